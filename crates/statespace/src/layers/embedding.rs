//! A token embedding table whose backward pass is the backend's own
//! scatter-add ([`crate::ops::embedding()`]); stored as burn's and PyTorch's
//! `weight` (vocab, d_model), so records and checkpoints are unchanged.

use crate::error::Result;
use crate::ops::{EmbeddingOps, embedding};
use burn::module::{Module, Param};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use rand::Rng;

use crate::random::normal;

/// h[b, t] = weight[tokens[b, t]].
#[derive(Module, Debug)]
pub struct Embedding<B: Backend> {
    /// The table, (vocab, d_model).
    pub weight: Param<Tensor<B, 2>>,
}

impl<B: Backend> Embedding<B> {
    /// A (`vocab`, `d_model`) table drawn from N(0, std²) by `rng` (PyTorch
    /// and burn draw embeddings at std 1).
    pub fn with_std(
        vocab: usize,
        d_model: usize,
        std: f64,
        device: &B::Device,
        rng: &mut impl Rng,
    ) -> Self {
        Self {
            weight: Param::from_tensor(normal(rng, [vocab, d_model], 0.0, std, device)),
        }
    }
}

impl<B: EmbeddingOps> Embedding<B> {
    /// The embeddings of `tokens` (batch, len), (batch, len, d_model).
    /// Every token must be below the vocabulary size. Fails as
    /// [`embedding()`] does.
    pub fn forward(&self, tokens: Tensor<B, 2, Int>) -> Result<Tensor<B, 3>> {
        embedding(self.weight.val(), tokens)
    }
}
