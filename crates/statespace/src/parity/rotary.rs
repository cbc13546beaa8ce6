//! Parity of Mamba-3's rotary keys and queries, forward and backward.

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;

use super::harness::{Cx, Draw, Results, outputs_and_grads, versus_cpu};
use crate::error::Result;
use crate::ops::{RotaryPairs, SsmBackend, rotary};

/// The rotary op of x (B, L, R, G, N), bias (H, R, N), θ (B, L, H, S).
fn run_rotary<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 4],
    pairs: RotaryPairs,
    device: &B::Device,
) -> Result<Results> {
    let x = draws[0].tensor::<B, 5>(device, DType::F32);
    let bias = draws[1].tensor::<B, 3>(device, DType::F32);
    let theta = draws[2].tensor::<B, 4>(device, DType::F32);
    let y = rotary(x.clone(), bias.clone(), theta.clone(), pairs)?;
    Ok(outputs_and_grads(
        y,
        &draws[3],
        &[("grad_x", &x), ("grad_bias", &bias), ("grad_theta", &theta)],
        device,
    ))
}

/// SISO (adjacent pairs, one rank) and MIMO (halves, ranks 2 and 4), one
/// and several groups, S below and at N/2.
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    // (B, L, R, G, H, N, S, pairs)
    let cases = [
        (2, 37, 1, 1, 4, 16, 4, RotaryPairs::Adjacent),
        (1, 300, 1, 2, 6, 32, 16, RotaryPairs::Adjacent),
        (2, 33, 2, 1, 3, 8, 2, RotaryPairs::Halves),
        (1, 65, 4, 2, 4, 16, 8, RotaryPairs::Halves),
    ];
    for (b, len, r, g, h, n, s, pairs) in cases {
        let draws = [
            cx.draw(&[b, len, r, g, n]),
            cx.draw(&[h, r, n]),
            cx.draw(&[b, len, h, s]),
            cx.draw(&[b, len, r, h, n]),
        ];
        let label = format!("rotary b{b} L{len} R{r} G{g} H{h} N{n} S{s} {pairs:?}");
        versus_cpu!(cx, label, run_rotary::<B>(&draws, pairs));
    }
    Ok(())
}
