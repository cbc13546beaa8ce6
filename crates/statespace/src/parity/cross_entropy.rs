//! Parity of the mean softmax cross-entropy and its logits gradient, up to an
//! LM-head vocabulary.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, Int, Tensor, TensorData};
use rand::Rng;

use super::harness::{Cx, Draw, Results, half_versus_f32, host, versus_cpu};
use crate::error::Result;
use crate::ops::{SsmBackend, mean_cross_entropy};

/// The mean cross-entropy of (N, C) logits stored as `dtype` against
/// `labels`, and the logits' gradient (scaled up by N so it is not all
/// below the tolerance's floor).
fn run_cross_entropy<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 1],
    labels: &[i64],
    dtype: DType,
    device: &B::Device,
) -> Result<Results> {
    let logits = draws[0].tensor::<B, 2>(device, dtype);
    let rows = labels.len();
    let labels = Tensor::<B, 1, Int>::from_data(TensorData::new(labels.to_vec(), [rows]), device);
    let loss = mean_cross_entropy(logits.clone(), labels)?.mul_scalar(rows as f64);
    let grads = loss.clone().backward();
    Ok(vec![
        ("loss", host(&loss)),
        (
            "grad_logits",
            logits.grad(&grads).map(|t| host(&t)).unwrap_or_default(),
        ),
    ])
}

/// Labels below `classes` and logits of spread 10 for `rows` rows.
fn draws<B: AutodiffBackend>(
    cx: &mut Cx<'_, B>,
    rows: usize,
    classes: usize,
) -> (Vec<i64>, [Draw; 1]) {
    let labels: Vec<i64> = (0..rows)
        .map(|_| cx.tokens.random_range(0..classes as i64))
        .collect();
    let mut logits = cx.draw(&[rows, classes]);
    logits.data.iter_mut().for_each(|x| *x *= 10.0);
    (labels, [logits])
}

/// The mean softmax cross-entropy and its logits gradient, up to an LM-head vocabulary.
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    // (N, C): one class; fewer classes than a cube's units; an LM head's
    // vocabulary (mamba-130m's padded 50,280).
    for (rows, classes) in [(1, 1), (3, 7), (37, 300), (64, 10), (16, 50_280)] {
        let (labels, draws) = draws(cx, rows, classes);
        versus_cpu!(
            cx,
            format!("cross entropy N{rows} C{classes}"),
            run_cross_entropy::<B>(&draws, &labels, DType::F32)
        );
    }
    Ok(())
}

/// 16-bit logits (a mixed-precision LM head's; the GPU's kernels read them
/// as they are, with f32 arithmetic, and write the gradient in their type)
/// against the CPU in f32 on the same rounded values.
pub(super) fn half_checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    for dtype in [DType::BF16, DType::F16] {
        for (rows, classes) in [(37, 300), (16, 50_280)] {
            let (labels, draws) = draws(cx, rows, classes);
            half_versus_f32!(
                cx,
                format!("cross entropy N{rows} C{classes}"),
                dtype,
                run_cross_entropy::<B>(draws, &labels)
            );
        }
    }
    Ok(())
}
