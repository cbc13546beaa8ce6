//! Parity of the mean softmax cross-entropy and its logits gradient, up to an
//! LM-head vocabulary.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, Int, Tensor, TensorData};
use rand::Rng;

use super::harness::{Cx, Draw, Results, host, versus_cpu};
use crate::error::Result;
use crate::ops::{SsmBackend, mean_cross_entropy};

/// The mean cross-entropy of (N, C) logits against `labels`, and the
/// logits' gradient (scaled up by N so it is not all below the tolerance's
/// floor).
fn run_cross_entropy<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 1],
    labels: &[i64],
    device: &B::Device,
) -> Result<Results> {
    let logits = draws[0].tensor::<B, 2>(device, DType::F32);
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

/// The mean softmax cross-entropy and its logits gradient, up to an LM-head vocabulary.
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    // (N, C): one class; fewer classes than a cube's units; an LM head's
    // vocabulary (mamba-130m's padded 50,280) with logits of spread 10.
    for (rows, classes) in [(1, 1), (3, 7), (37, 300), (64, 10), (16, 50_280)] {
        let labels: Vec<i64> = (0..rows)
            .map(|_| cx.tokens.random_range(0..classes as i64))
            .collect();
        let mut logits = cx.draw(&[rows, classes]);
        logits.data.iter_mut().for_each(|x| *x *= 10.0);
        let draws = [logits];
        versus_cpu!(
            cx,
            format!("cross entropy N{rows} C{classes}"),
            run_cross_entropy::<B>(&draws, &labels)
        );
    }
    Ok(())
}
