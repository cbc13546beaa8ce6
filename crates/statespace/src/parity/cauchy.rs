//! Parity of s4's Cauchy product at the nodes of a kernel of length L.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, Tensor};
use num_complex::Complex64;

use super::harness::{Cx, Draw, Results, outputs_and_grads, versus_cpu};
use crate::complex::ComplexTensor;
use crate::error::Result;
use crate::kernel::dplr::cauchy_nodes;
use crate::ops::{SsmBackend, cauchy};

/// The Cauchy product of v (H, R, N) over poles z (H, N) at S4's nodes
/// ±2i·tan(πk/L); output (H, R, 2·S) with real parts first.
fn run_cauchy<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 5],
    nodes: &[Complex64],
    device: &B::Device,
) -> Result<Results> {
    let v = ComplexTensor::new(
        draws[0].tensor::<B, 3>(device, DType::F32),
        draws[1].tensor::<B, 3>(device, DType::F32),
    );
    let z = ComplexTensor::new(
        draws[2].tensor::<B, 2>(device, DType::F32),
        draws[3].tensor::<B, 2>(device, DType::F32),
    );
    let y = cauchy(&v, &z, nodes)?;
    let out = Tensor::cat(vec![y.re, y.im], 2);
    Ok(outputs_and_grads(
        out,
        &draws[4],
        &[
            ("grad_v_re", &v.re),
            ("grad_v_im", &v.im),
            ("grad_z_re", &z.re),
            ("grad_z_im", &z.im),
        ],
        device,
    ))
}

/// S4's Cauchy product at the nodes of a kernel of length L.
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    // (H, R, N, L) of the Cauchy product at the nodes of an S4 kernel of
    // length L (⌈L/2⌉ tangents at ±), poles ΔΛ of S4D-Lin shape.
    for (h, r, n, len) in [(3, 2, 4, 1), (4, 4, 7, 33), (16, 6, 32, 1000)] {
        let nodes = cauchy_nodes(len);
        let mut z_re = cx.draw(&[h, n]);
        z_re.data
            .iter_mut()
            .for_each(|x| *x = -0.05 * (0.1 * *x).exp());
        let mut z_im = cx.draw(&[h, n]);
        z_im.data
            .iter_mut()
            .enumerate()
            .for_each(|(i, x)| *x = 0.1 * std::f32::consts::PI * (i % n) as f32 + 0.01 * *x);
        let draws = [
            cx.draw(&[h, r, n]),
            cx.draw(&[h, r, n]),
            z_re,
            z_im,
            cx.draw(&[h, r, 2 * nodes.len()]),
        ];
        versus_cpu!(
            cx,
            format!("cauchy H{h} R{r} N{n} L{len}"),
            run_cauchy::<B>(&draws, &nodes)
        );
    }
    Ok(())
}
