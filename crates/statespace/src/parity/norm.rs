//! Parity of RMSNorm and LayerNorm, and of BatchNorm in training, forward
//! and backward.

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;

use super::harness::{Cx, Draw, GradOf, Results, half_versus_f32, outputs_and_grads, versus_cpu};
use crate::error::Result;
use crate::ops::{NormKind, SsmBackend, batch_norm, norm};

/// LayerNorm or RMSNorm of a strided view (x is a slice of a wider
/// tensor), and every gradient.
fn run_norm<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 4],
    kind: NormKind,
    dtype: DType,
    device: &B::Device,
) -> Result<Results> {
    let wide = draws[0].tensor::<B, 3>(device, dtype);
    let dim = draws[1].shape[0];
    let x = wide.clone().narrow(2, 1, dim);
    let w = draws[1].tensor::<B, 1>(device, dtype);
    let b = draws[2].tensor::<B, 1>(device, dtype);
    let bias = (kind == NormKind::Layer).then(|| b.clone());
    let out = norm(x, w.clone(), bias, 1e-5, kind)?;
    let grad_x: GradOf<'_, B> = ("grad_x", &wide);
    let grad_w: GradOf<'_, B> = ("grad_weight", &w);
    let grad_b: GradOf<'_, B> = ("grad_bias", &b);
    // RMSNorm has no bias, so no bias gradient to compare.
    let grads = match kind {
        NormKind::Layer => vec![grad_x, grad_w, grad_b],
        NormKind::Rms => vec![grad_x, grad_w],
    };
    Ok(outputs_and_grads(out, &draws[3], &grads, device))
}

/// The draws of one case (batch, L, d): a wider x, the weight, the bias
/// and ∂y, in [`run_norm`]'s order.
fn draws<B: AutodiffBackend>(cx: &mut Cx<'_, B>, bt: usize, len: usize, dim: usize) -> [Draw; 4] {
    [
        cx.draw(&[bt, len, dim + 3]),
        cx.draw(&[dim]),
        cx.draw(&[dim]),
        cx.draw(&[bt, len, dim]),
    ]
}

/// RMSNorm and LayerNorm, forward and backward.
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    // (batch, L, d): one row; widths below, at and above one warp's 32
    // lanes; Mamba-130m's 768 over a batch of rows. Not below d = 3: at
    // d = 1 (RMSNorm) and d = 2 (LayerNorm) the normalised row can only
    // flip sign, so ∂x is ε-sized, r·ĝ·(1 − x̂²) = r³·ε·ĝ for RMSNorm at
    // d = 1, a cancellation that no f32 implementation, the CPU's included,
    // computes to 1e-5 (the GPU measured 1.4e-2 and 3.6e-3 against it).
    for (bt, len, dim) in [
        (1, 1, 3),
        (2, 37, 5),
        (3, 33, 32),
        (2, 100, 70),
        (2, 512, 768),
    ] {
        for kind in [NormKind::Rms, NormKind::Layer] {
            let draws = draws(cx, bt, len, dim);
            versus_cpu!(
                cx,
                format!("{kind:?} norm b{bt} L{len} d{dim}"),
                run_norm::<B>(&draws, kind, DType::F32)
            );
        }
    }
    Ok(())
}

/// RMSNorm and LayerNorm of 16-bit tensors (mixed precision; the GPU's
/// kernels read and write them as they are, with f32 arithmetic) against the CPU in f32 on the same
/// rounded values, at Mamba-130m's width.
pub(super) fn half_checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    for dtype in [DType::BF16, DType::F16] {
        for kind in [NormKind::Rms, NormKind::Layer] {
            let (bt, len, dim) = (2, 64, 768);
            let draws = draws(cx, bt, len, dim);
            half_versus_f32!(
                cx,
                format!("{kind:?} norm b{bt} L{len} d{dim}"),
                dtype,
                run_norm::<B>(draws, kind)
            );
        }
    }
    Ok(())
}

/// BatchNorm in training (`ops::batch_norm`) of x (rows, d), and every
/// gradient.
fn run_batch_norm<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 4],
    device: &B::Device,
) -> Result<Results> {
    let x = draws[0].tensor::<B, 2>(device, DType::F32);
    let w = draws[1].tensor::<B, 1>(device, DType::F32);
    let b = draws[2].tensor::<B, 1>(device, DType::F32);
    let (out, _, _) = batch_norm(x.clone(), w.clone(), b.clone(), 1e-5)?;
    let grads: [GradOf<'_, B>; 3] = [("grad_x", &x), ("grad_weight", &w), ("grad_bias", &b)];
    Ok(outputs_and_grads(out, &draws[3], &grads, device))
}

/// BatchNorm in training: two rows; a sequence's worth; ListOps's
/// 256 channels over enough rows for the column sums' two stages.
pub(super) fn batch_checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    for (rows, dim) in [(2, 5), (74, 7), (4096, 256)] {
        let draws = [
            cx.draw(&[rows, dim]),
            cx.draw(&[dim]),
            cx.draw(&[dim]),
            cx.draw(&[rows, dim]),
        ];
        versus_cpu!(
            cx,
            format!("batch norm rows {rows} d{dim}"),
            run_batch_norm::<B>(&draws)
        );
    }
    Ok(())
}
