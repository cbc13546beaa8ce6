//! Parity of the embedding lookup and its scatter-add backward.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, Int, Tensor, TensorData};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::harness::{Draw, Results, host, outputs_and_grads, versus_cpu};
use crate::error::Result;
use crate::golden::Check;
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
        &[("grad_table", &|g| table.grad(g).map(|t| host(&t)))],
        device,
    ))
}

/// The embedding lookup and its scatter-add backward.
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(
    draw: &mut impl FnMut(&[usize]) -> Draw,
    rng_tokens: &mut ChaCha8Rng,
    device: &B::Device,
    checks: &mut Vec<Check>,
) -> Result<()> {
    // (V, D, batch, L): one token; few rows hit many times; a byte-level
    // table under an LRA-sized batch (every row hit ≈ 16 times).
    for (vocab, dim, bt, len) in [
        (5, 3, 1, 1),
        (7, 33, 2, 37),
        (300, 70, 3, 100),
        (256, 128, 4, 1024),
    ] {
        let tokens: Vec<i64> = (0..bt * len)
            .map(|_| rng_tokens.random_range(0..vocab as i64))
            .collect();
        let draws = [draw(&[vocab, dim]), draw(&[bt, len, dim])];
        versus_cpu!(
            checks,
            format!("embedding V{vocab} D{dim} b{bt} L{len}"),
            run_embedding::<B>(&draws, &tokens),
            device
        );
    }
    Ok(())
}
