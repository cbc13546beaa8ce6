//! Parity of the FFT long convolution (`causal_conv`, `two_sided_conv`):
//! outputs and gradients at L = 1, odd lengths and kernels shorter than the
//! input, and anti-causal kernels of every reach.

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;

use super::harness::{Cx, Draw, Results, outputs_and_grads, versus_cpu};
use crate::error::Result;
use crate::ops::{SsmBackend, causal_conv, two_sided_conv};

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
        &[("grad_u", &u), ("grad_k", &k), ("grad_d", &d)],
        device,
    ))
}

fn run_two_sided<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 5],
    device: &B::Device,
) -> Result<Results> {
    let u = draws[0].tensor::<B, 3>(device, DType::F32);
    let causal = draws[1].tensor::<B, 3>(device, DType::F32);
    let anti = draws[2].tensor::<B, 3>(device, DType::F32);
    let d = draws[3].tensor::<B, 2>(device, DType::F32);
    let out = two_sided_conv(u.clone(), causal.clone(), anti.clone(), d.clone())?;
    Ok(outputs_and_grads(
        out,
        &draws[4],
        &[
            ("grad_u", &u),
            ("grad_causal", &causal),
            ("grad_anticausal", &anti),
            ("grad_d", &d),
        ],
        device,
    ))
}

/// The FFT long convolution: `causal_conv` at L = 1, odd lengths, kernels
/// shorter than the input and FFT lengths up to 16384; `two_sided_conv` with
/// both kernels as long as the input (bidirectional S4) and with short ones.
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    // (batch, L, H, channels, Lk)
    let conv_shapes = [
        (2, 1, 3, 1, 1),
        (2, 37, 4, 2, 37),
        (1, 64, 3, 1, 20),
        (2, 300, 5, 2, 300),
        // n = 4096 (ListOps' padded length), 8192 and 16384, where ∂d (a
        // sum of B·L products) needs care (docs/ARCHITECTURE.md).
        (2, 2000, 3, 1, 2000),
        (1, 4096, 2, 2, 4096),
        (1, 5000, 2, 1, 5000),
    ];
    for (bt, len, h, c, k_len) in conv_shapes {
        let draws = [
            cx.draw(&[bt, len, h]),
            cx.draw(&[c, h, k_len]),
            cx.draw(&[c, h]),
            cx.draw(&[bt, len, c * h]),
        ];
        versus_cpu!(
            cx,
            format!("fftconv b{bt} L{len} H{h} C{c} Lk{k_len}"),
            run_conv::<B>(&draws)
        );
    }
    // (batch, L, H, channels, Lc, La)
    let two_sided_shapes = [
        (2, 37, 4, 2, 37, 37),
        (1, 64, 3, 1, 20, 5),
        (2, 300, 5, 1, 300, 300),
    ];
    for (bt, len, h, c, causal_len, anti_len) in two_sided_shapes {
        let draws = [
            cx.draw(&[bt, len, h]),
            cx.draw(&[c, h, causal_len]),
            cx.draw(&[c, h, anti_len]),
            cx.draw(&[c, h]),
            cx.draw(&[bt, len, c * h]),
        ];
        versus_cpu!(
            cx,
            format!("two-sided conv b{bt} L{len} H{h} C{c} Lc{causal_len} La{anti_len}"),
            run_two_sided::<B>(&draws)
        );
    }
    Ok(())
}
