//! Parity of the embedding lookup and its scatter-add backward.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, Int, Tensor, TensorData};
use rand::Rng;

use super::harness::{Cx, Draw, Results, outputs_and_grads, versus_cpu};
use crate::error::Result;
use crate::ops::{SsmBackend, embedding};

/// The rows of a (V, D) table that `tokens` (B, L; repeated) name, and the
/// table's gradient: a scatter-add of ∂out.
fn run_embedding<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 2],
    tokens: &[i64],
    device: &B::Device,
) -> Result<Results> {
    let table = draws[0].tensor::<B, 2>(device, DType::F32);
    let (bt, len) = (draws[1].shape[0], draws[1].shape[1]);
    let tokens =
        Tensor::<B, 2, Int>::from_data(TensorData::new(tokens.to_vec(), [bt, len]), device);
    let out = embedding(table.clone(), tokens)?;
    Ok(outputs_and_grads(
        out,
        &draws[1],
        &[("grad_table", &table)],
        device,
    ))
}

/// The embedding lookup and its scatter-add backward.
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    // (V, D, batch, L): one token; few rows hit many times; a byte-level
    // table under an LRA-sized batch (every row hit ≈ 16 times).
    for (vocab, dim, bt, len) in [
        (5, 3, 1, 1),
        (7, 33, 2, 37),
        (300, 70, 3, 100),
        (256, 128, 4, 1024),
    ] {
        let tokens: Vec<i64> = (0..bt * len)
            .map(|_| cx.tokens.random_range(0..vocab as i64))
            .collect();
        let draws = [cx.draw(&[vocab, dim]), cx.draw(&[bt, len, dim])];
        versus_cpu!(
            cx,
            format!("embedding V{vocab} D{dim} b{bt} L{len}"),
            run_embedding::<B>(&draws, &tokens)
        );
    }
    Ok(())
}
