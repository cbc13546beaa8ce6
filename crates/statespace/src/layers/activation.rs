//! Pointwise activations used after a mixer.

use std::fmt;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, activation};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ops::{GeluOps, gelu};

/// A pointwise nonlinearity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    /// GELU, exact (erf) form.
    #[default]
    Gelu,
    /// No activation.
    #[serde(alias = "id")]
    Identity,
    /// Hyperbolic tangent.
    Tanh,
    /// Rectified linear unit.
    Relu,
    /// SiLU / swish: x·σ(x).
    #[serde(alias = "swish")]
    Silu,
}

impl Activation {
    /// Applies the activation elementwise; fails as [`gelu()`] does.
    pub fn apply<B: GeluOps, const D: usize>(&self, x: Tensor<B, D>) -> Result<Tensor<B, D>> {
        Ok(match self {
            // x·Φ(x) through erf, with its exact derivative (burn's gelu
            // differentiates as its tanh approximation on CubeCL devices,
            // 1e-4 … 1e-3 off), as one backend op each way.
            Activation::Gelu => gelu(x)?,
            Activation::Identity => x,
            Activation::Tanh => x.tanh(),
            Activation::Relu => activation::relu(x),
            Activation::Silu => activation::silu(x),
        })
    }
}

/// GELU in its tanh form (flax's `nn.gelu` default, S5's):
/// ½x(1 + tanh(√(2/π)(x + 0.044715x³))), in differentiable tensor ops.
pub fn gelu_tanh<B: Backend, const D: usize>(x: Tensor<B, D>) -> Tensor<B, D> {
    const SQRT_2_OVER_PI: f64 = 0.797_884_560_802_865_4;
    let inner =
        (x.clone() + x.clone().powi_scalar(3).mul_scalar(0.044715)).mul_scalar(SQRT_2_OVER_PI);
    x.clone().mul_scalar(0.5) * inner.tanh().add_scalar(1.0)
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Activation::Gelu => "gelu",
            Activation::Identity => "identity",
            Activation::Tanh => "tanh",
            Activation::Relu => "relu",
            Activation::Silu => "silu",
        })
    }
}
