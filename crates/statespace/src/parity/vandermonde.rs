//! Parity of the Vandermonde product of diagonal kernels, up to an S4D-Lin
//! layer at L 1000.

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;

use super::harness::{Cx, Draw, Results, outputs_and_grads, versus_cpu};
use crate::complex::ComplexTensor;
use crate::error::Result;
use crate::ops::{SsmBackend, vandermonde};

fn run_vandermonde<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 5],
    len: usize,
    device: &B::Device,
) -> Result<Results> {
    let w = ComplexTensor::new(
        draws[0].tensor::<B, 2>(device, DType::F32),
        draws[1].tensor::<B, 2>(device, DType::F32),
    );
    let coef = ComplexTensor::new(
        draws[2].tensor::<B, 3>(device, DType::F32),
        draws[3].tensor::<B, 3>(device, DType::F32),
    );
    let out = vandermonde(&w, &coef, len)?;
    Ok(outputs_and_grads(
        out,
        &draws[4],
        &[
            ("grad_w_re", &w.re),
            ("grad_w_im", &w.im),
            ("grad_coef_re", &coef.re),
            ("grad_coef_im", &coef.im),
        ],
        device,
    ))
}

/// The Vandermonde product of diagonal kernels, up to an S4D-Lin layer at L 1000.
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    // (H, N, C, L): the last an S4D-Lin layer (ΔA = Δ·(−½ + iπn), Δ up to
    // 0.1), whose phases reach 10⁴ radians over the kernel.
    for (h, n, c, len) in [
        (3, 4, 2, 1),
        (4, 8, 1, 33),
        (2, 16, 1, 64),
        (16, 32, 2, 1000),
    ] {
        let s4d_lin = len == 1000;
        let mut w_re = cx.draw(&[h, n]);
        w_re.data
            .iter_mut()
            .for_each(|x| *x = -0.1 * x.abs() - 0.01);
        let mut w_im = cx.draw(&[h, n]);
        w_im.data.iter_mut().for_each(|x| *x *= 0.5);
        if s4d_lin {
            for hi in 0..h {
                let dt = 0.001 * 100f32.powf(hi as f32 / (h - 1) as f32);
                for m in 0..n {
                    w_re.data[hi * n + m] = -0.5 * dt;
                    w_im.data[hi * n + m] = std::f32::consts::PI * m as f32 * dt;
                }
            }
        }
        let draws = [
            w_re,
            w_im,
            cx.draw(&[c, h, n]),
            cx.draw(&[c, h, n]),
            cx.draw(&[c, h, len]),
        ];
        versus_cpu!(
            cx,
            format!("vandermonde H{h} N{n} C{c} L{len}"),
            run_vandermonde::<B>(&draws, len)
        );
    }
    Ok(())
}
