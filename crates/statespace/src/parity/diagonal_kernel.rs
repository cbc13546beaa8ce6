//! Parity of the fused diagonal (S4D) kernel, ZOH and bilinear, against the CPU
//! in f64 where f32 limits the accuracy.

use burn::backend::Autodiff;
use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;
use burn_flex::Flex;

use super::TOLERANCE_F32;
use super::harness::{Cx, Draw, Results, compare_conditioned, outputs_and_grads};
use crate::complex::ComplexTensor;
use crate::discretize::Discretization;
use crate::error::Result;
use crate::ops::{SsmBackend, diagonal_kernel};

/// The fused diagonal kernel of Δ (H), A and B (H, N), C (C, H, N).
fn run_diagonal_kernel<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 8],
    rule: Discretization,
    len: usize,
    dtype: DType,
    device: &B::Device,
) -> Result<Results> {
    let dt = draws[0].tensor::<B, 1>(device, dtype);
    let complex2 = |i: usize| {
        ComplexTensor::new(
            draws[i].tensor::<B, 2>(device, dtype),
            draws[i + 1].tensor::<B, 2>(device, dtype),
        )
    };
    let (a, b) = (complex2(1), complex2(3));
    let c = ComplexTensor::new(
        draws[5].tensor::<B, 3>(device, dtype),
        draws[6].tensor::<B, 3>(device, dtype),
    );
    let out = diagonal_kernel(&dt, &a, &b, &c, rule, len)?;
    Ok(outputs_and_grads(
        out,
        &draws[7],
        &[
            ("grad_dt", &dt),
            ("grad_a_re", &a.re),
            ("grad_a_im", &a.im),
            ("grad_b_re", &b.re),
            ("grad_b_im", &b.im),
            ("grad_c_re", &c.re),
            ("grad_c_im", &c.im),
        ],
        device,
    ))
}

/// The fused diagonal (S4D) kernel, ZOH and bilinear, against the CPU in f64
/// where f32 limits the accuracy.
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    // (H, N, C, L) of the fused diagonal kernel, S4D-shaped: Δ log-uniform
    // in [0.001, 0.1], A = −½·e^{noise} + iπn.
    for rule in [Discretization::Zoh, Discretization::Bilinear] {
        for (h, n, c, len) in [(3, 4, 2, 1), (5, 7, 1, 33), (16, 32, 2, 1000)] {
            let mut dt = cx.draw(&[h]);
            dt.data
                .iter_mut()
                .for_each(|x| *x = 0.001 * 100f32.powf(x.abs().min(1.0)));
            let mut a_re = cx.draw(&[h, n]);
            a_re.data
                .iter_mut()
                .for_each(|x| *x = -0.5 * (0.1 * *x).exp());
            let mut a_im = cx.draw(&[h, n]);
            a_im.data
                .iter_mut()
                .enumerate()
                .for_each(|(i, x)| *x = std::f32::consts::PI * (i % n) as f32 + 0.1 * *x);
            let draws = [
                dt,
                a_re,
                a_im,
                cx.draw(&[h, n]),
                cx.draw(&[h, n]),
                cx.draw(&[c, h, n]),
                cx.draw(&[c, h, n]),
                cx.draw(&[c, h, len]),
            ];
            let ceiling = match (len, rule) {
                (..=100, _) => TOLERANCE_F32,
                (_, Discretization::Zoh) => 3e-5,
                (_, Discretization::Bilinear) => 2e-4,
            };
            let cpu = Default::default();
            compare_conditioned(
                format!("diagonal kernel {rule} H{h} N{n} C{c} L{len}"),
                &run_diagonal_kernel::<B>(&draws, rule, len, DType::F32, cx.device)?,
                &run_diagonal_kernel::<Autodiff<Flex>>(&draws, rule, len, DType::F64, &cpu)?,
                ceiling,
                cx.checks,
            );
        }
    }
    Ok(())
}
