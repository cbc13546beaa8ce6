//! Embedding lookup as a backend extension with its own backward.
//!
//! out\[n\] = weight[indices\[n\]]; ∂weight\[v\] = Σ_{n: indices\[n\] = v} ∂out\[n\].
//! burn's own embedding backward on CubeCL devices is a select-assign with
//! one unit per column that walks every row in turn (one cube for a
//! 128-wide table: 15.9 ms of a 47 ms S4D training step on an H200).
//! CubeCL devices scatter-add ∂out with one unit per element and f32
//! atomics instead (`cube.rs`); other backends run burn's select-add
//! (`reference.rs`), which defines the semantics.

mod autodiff;
mod cpu;
#[cfg(feature = "cuda")]
mod cube;
#[cfg(feature = "cuda")]
mod kernels;
mod reference;

use burn::tensor::backend::Backend;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{Int, Tensor, TensorPrimitive};

use crate::error::Result;
use crate::ops::support::check;

pub use reference::embedding_grad_composite;

/// Backends that look rows up in a table and scatter gradients back.
pub trait EmbeddingOps: Backend {
    /// The rows of `weight` (V, D) that `indices` (N) name, (N, D). Every
    /// index must be below V.
    fn embedding_lookup(weight: FloatTensor<Self>, indices: IntTensor<Self>) -> FloatTensor<Self> {
        Self::float_select(weight, 0, indices)
    }

    /// ∂weight (`vocab`, D) from ∂out (N, D): row v is the sum of the rows
    /// of ∂out whose index is v (zero for indices not present).
    fn embedding_grad(
        grad: FloatTensor<Self>,
        indices: IntTensor<Self>,
        vocab: usize,
    ) -> FloatTensor<Self> {
        embedding_grad_composite::<Self>(grad, indices, vocab)
    }
}

/// The embeddings of `tokens` (B ≥ 1, L ≥ 1) in `weight` (V ≥ 1, D ≥ 1):
/// (B, L, D). Differentiable in `weight`. Every token must be below V (not
/// checked: that would read the tokens back from the device).
///
/// Fails, naming the argument, on an empty axis, a table not stored as a
/// float type, or the two on different devices.
pub fn embedding<B: EmbeddingOps>(
    weight: Tensor<B, 2>,
    tokens: Tensor<B, 2, Int>,
) -> Result<Tensor<B, 3>> {
    const OP: &str = "embedding";
    let [batch, len] = tokens.dims();
    for axis in 0..2 {
        check::min_axis(OP, "tokens (B ≥ 1, L ≥ 1)", &tokens.dims(), axis, 1)?;
        check::min_axis(OP, "weight (V ≥ 1, D ≥ 1)", &weight.dims(), axis, 1)?;
    }
    check::float_dtype(OP, "weight", weight.dtype())?;
    check::same_device(
        OP,
        &[("weight", weight.device()), ("tokens", tokens.device())],
    )?;
    let [_, dim] = weight.dims();
    let flat = tokens.reshape([batch * len]).into_primitive();
    let rows = B::embedding_lookup(weight.into_primitive().tensor(), flat);
    Ok(Tensor::<B, 2>::from_primitive(TensorPrimitive::Float(rows)).reshape([batch, len, dim]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Autodiff;
    use burn::tensor::TensorData;
    use burn_flex::Flex;

    /// Rows come out in token order; the table's gradient sums the rows of
    /// ∂out per token (a repeated token sums, an absent one is zero).
    #[test]
    fn lookup_and_gradient() {
        type B = Autodiff<Flex>;
        let device = Default::default();
        let table =
            Tensor::<B, 2>::from_data([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], &device).require_grad();
        let tokens = Tensor::<B, 2, Int>::from_data(TensorData::from([[2i64, 0, 2]]), &device);
        let out = embedding(table.clone(), tokens).unwrap();
        out.to_data().assert_eq(
            &TensorData::from([[[5.0f32, 6.0], [1.0, 2.0], [5.0, 6.0]]]),
            false,
        );
        let g = Tensor::<B, 3>::from_data([[[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]]], &device);
        let grads = (out * g).sum().backward();
        table.grad(&grads).unwrap().to_data().assert_eq(
            &TensorData::from([[2.0f32, 20.0], [0.0, 0.0], [4.0, 40.0]]),
            false,
        );
    }
}
