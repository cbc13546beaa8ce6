//! Parity of the FFT long convolution (`causal_conv`): outputs and gradients at
//! L = 1, odd lengths and kernels shorter than the input.

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;

use super::harness::{Draw, Results, host, outputs_and_grads, versus_cpu};
use crate::error::Result;
use crate::golden::Check;
use crate::ops::{SsmBackend, causal_conv};

fn run_conv<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 4],
    device: &B::Device,
) -> Result<Results> {
    let u = draws[0].tensor::<B, 3>(device, DType::F32);
    let k = draws[1].tensor::<B, 3>(device, DType::F32);
    let d = draws[2].tensor::<B, 2>(device, DType::F32);
    let out = causal_conv(u.clone(), k.clone(), d.clone())?;
    Ok(outputs_and_grads(
        out,
        &draws[3],
        &[
            ("grad_u", &|g| u.grad(g).map(|t| host(&t))),
            ("grad_k", &|g| k.grad(g).map(|t| host(&t))),
            ("grad_d", &|g| d.grad(g).map(|t| host(&t))),
        ],
        device,
    ))
}

/// The FFT long convolution (`causal_conv`): outputs and gradients at L = 1,
/// odd lengths and kernels shorter than the input.
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(
    draw: &mut impl FnMut(&[usize]) -> Draw,
    device: &B::Device,
    checks: &mut Vec<Check>,
) -> Result<()> {
    // (batch, L, H, channels, Lk)
    let conv_shapes = [
        (2, 1, 3, 1, 1),
        (2, 37, 4, 2, 37),
        (1, 64, 3, 1, 20),
        (2, 300, 5, 2, 300),
    ];
    for (bt, len, h, c, k_len) in conv_shapes {
        let draws = [
            draw(&[bt, len, h]),
            draw(&[c, h, k_len]),
            draw(&[c, h]),
            draw(&[bt, len, c * h]),
        ];
        versus_cpu!(
            checks,
            format!("fftconv b{bt} L{len} H{h} C{c} Lk{k_len}"),
            run_conv::<B>(&draws),
            device
        );
    }
    Ok(())
}
