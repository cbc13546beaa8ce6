//! S5's `SequenceLayer` in evaluation mode: the gated SSM ([`S5Block`])
//! with S5's norm (LayerNorm, or BatchNorm from running statistics) and
//! skip, pre- or post-norm.

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::S5Block;
use super::config::S5Config;
use crate::error::Result;
use crate::layers::batch_norm::normalise_by_statistics;
use crate::ops::{NormKind, SsmBackend, norm};

/// flax LayerNorm's ε.
const LAYER_NORM_EPS: f64 = 1e-6;
/// flax BatchNorm's ε.
const BATCH_NORM_EPS: f64 = 1e-5;

/// Which norm the layer uses (S5's `batchnorm` flag).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum S5NormKind {
    /// flax LayerNorm over H (ε 10⁻⁶).
    Layer,
    /// flax BatchNorm at inference: running mean and variance (ε 10⁻⁵).
    Batch,
}

/// S5's norm over the H features: `scale`, `bias` (H), and for BatchNorm
/// the running statistics `mean`, `var` (H), not trained.
#[derive(Module, Debug)]
pub struct S5Norm<B: Backend> {
    pub scale: Param<Tensor<B, 1>>,
    pub bias: Param<Tensor<B, 1>>,
    pub mean: Option<Param<Tensor<B, 1>>>,
    pub var: Option<Param<Tensor<B, 1>>>,
}

impl<B: SsmBackend> S5Norm<B> {
    fn new(h: usize, kind: S5NormKind, device: &B::Device) -> Self {
        let stat = |value: f64| {
            Param::from_tensor(Tensor::full([h], value, device)).set_require_grad(false)
        };
        let batch = kind == S5NormKind::Batch;
        Self {
            scale: Param::from_tensor(Tensor::ones([h], device)),
            bias: Param::from_tensor(Tensor::zeros([h], device)),
            mean: batch.then(|| stat(0.0)),
            var: batch.then(|| stat(1.0)),
        }
    }

    /// x (B, L, H) normalised over H (LayerNorm) or by the running
    /// statistics (BatchNorm).
    pub fn forward(&self, x: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        match (&self.mean, &self.var) {
            (Some(mean), Some(var)) => Ok(normalise_by_statistics(
                x,
                mean.val(),
                var.val(),
                self.scale.val(),
                self.bias.val(),
                BATCH_NORM_EPS,
            )),
            _ => norm(
                x,
                self.scale.val(),
                Some(self.bias.val()),
                LAYER_NORM_EPS,
                NormKind::Layer,
            ),
        }
    }
}

/// S5's `SequenceLayer`: prenorm x + block(norm(x)), or postnorm
/// norm(x + block(x)); dropout off (evaluation).
#[derive(Module, Debug)]
pub struct S5Layer<B: Backend> {
    /// The gated SSM (flax names `seq`, `out1`, `out2`).
    pub mixer: S5Block<B>,
    pub norm: S5Norm<B>,
    #[module(skip)]
    prenorm: bool,
}

impl S5Config {
    /// A whole `SequenceLayer`, freshly initialised.
    pub fn init_layer<B: SsmBackend>(
        &self,
        norm: S5NormKind,
        prenorm: bool,
        device: &B::Device,
        rng: &mut impl Rng,
    ) -> Result<S5Layer<B>> {
        Ok(S5Layer {
            mixer: self.init(device, rng)?,
            norm: S5Norm::new(self.d_model, norm, device),
            prenorm,
        })
    }
}

impl<B: SsmBackend> S5Layer<B> {
    /// (B, L, H) → (B, L, H).
    pub fn forward(&self, x: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        if self.prenorm {
            Ok(x.clone() + self.mixer.forward(self.norm.forward(x)?)?)
        } else {
            self.norm.forward(x.clone() + self.mixer.forward(x)?)
        }
    }

    /// The SSM's output inside the layer (after the prenorm, before the
    /// gate): S5's `seq` output.
    pub fn ssm_output(&self, x: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let x = if self.prenorm {
            self.norm.forward(x)?
        } else {
            x
        };
        self.mixer.seq.forward(x)
    }
}
