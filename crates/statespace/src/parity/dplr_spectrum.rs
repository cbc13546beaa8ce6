//! Parity of S4's DPLR generating function (the Woodbury form at the
//! bilinear nodes) in f64, forward and every input's gradient.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, Tensor};
use num_complex::Complex64;

use super::TOLERANCE_F64;
use super::harness::{Cx, Draw, Results, outputs_and_grads, versus_cpu};
use crate::complex::ComplexTensor;
use crate::error::Result;
use crate::ops::{SsmBackend, dplr_spectrum};

/// K̂ (H, Cc, S) of H systems at `nodes` from the draws Δ (H), λ, B (H, N),
/// P (r, H, N), C̃ (Cc, H, N) (real parts, then imaginary ones), all f64;
/// output (H, Cc, 2·S) with real parts first.
fn run_dplr_spectrum<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 10],
    nodes: &[Complex64],
    device: &B::Device,
) -> Result<Results> {
    let t1 = |d: &Draw| d.tensor::<B, 1>(device, DType::F64);
    let t2 = |d: &Draw| d.tensor::<B, 2>(device, DType::F64);
    let t3 = |d: &Draw| d.tensor::<B, 3>(device, DType::F64);
    let dt = t1(&draws[0]);
    let lambda = ComplexTensor::new(t2(&draws[1]), t2(&draws[2]));
    let b = ComplexTensor::new(t2(&draws[3]), t2(&draws[4]));
    let p = ComplexTensor::new(t3(&draws[5]), t3(&draws[6]));
    let c = ComplexTensor::new(t3(&draws[7]), t3(&draws[8]));
    let y = dplr_spectrum(&dt, &lambda, &b, &p, &c, nodes)?;
    let out: Tensor<B, 3> = Tensor::cat(vec![y.re, y.im], 2);
    Ok(outputs_and_grads(
        out,
        &draws[9],
        &[
            ("grad_dt", &dt),
            ("grad_lambda_re", &lambda.re),
            ("grad_lambda_im", &lambda.im),
            ("grad_b_re", &b.re),
            ("grad_b_im", &b.im),
            ("grad_p_re", &p.re),
            ("grad_p_im", &p.im),
            ("grad_c_re", &c.re),
            ("grad_c_im", &c.im),
        ],
        device,
    ))
}

/// The DPLR generating function at the ⌈L/2⌉ nodes 2i·tan(πk/L) of an S4
/// kernel of length L, ranks 1 and 2, one and two output channels, with
/// HiPPO-like poles −½ + iπn and steps Δ in [10⁻³, 10⁻¹].
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    for (h, n, rank, channels, len) in
        [(3, 2, 1, 1, 8), (4, 3, 2, 2, 33), (16, 32, 1, 2, 2000usize)]
    {
        let nodes: Vec<Complex64> = (0..len.div_ceil(2))
            .map(|k| {
                let t = (std::f64::consts::PI * k as f64 / len as f64).tan();
                Complex64::new(0.0, 2.0 * t)
            })
            .collect();
        let mut dt = cx.draw(&[h]);
        dt.data
            .iter_mut()
            .for_each(|x| *x = 0.01 * (x.clamp(-2.0, 2.0) * std::f32::consts::LN_10 / 2.0).exp());
        let mut lambda_re = cx.draw(&[h, n]);
        lambda_re
            .data
            .iter_mut()
            .for_each(|x| *x = -0.5 * (0.2 * *x).exp());
        let mut lambda_im = cx.draw(&[h, n]);
        lambda_im
            .data
            .iter_mut()
            .enumerate()
            .for_each(|(i, x)| *x = std::f32::consts::PI * (i % n) as f32 + 0.1 * *x);
        let draws = [
            dt,
            lambda_re,
            lambda_im,
            cx.draw(&[h, n]),
            cx.draw(&[h, n]),
            cx.draw(&[rank, h, n]),
            cx.draw(&[rank, h, n]),
            cx.draw(&[channels, h, n]),
            cx.draw(&[channels, h, n]),
            cx.draw(&[h, channels, 2 * nodes.len()]),
        ];
        versus_cpu!(
            cx,
            format!("dplr_spectrum H{h} N{n} r{rank} C{channels} L{len} f64"),
            run_dplr_spectrum::<B>(&draws, &nodes),
            within TOLERANCE_F64
        );
    }
    Ok(())
}
