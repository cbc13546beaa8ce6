//! The AdamW update and the squared gradient norm as backend extensions.
//!
//! Written with tensor ops, one AdamW step launches about eighteen kernels
//! per parameter and the norm four more; on a GPU, launching them costs
//! more than the arithmetic (a Mamba LM's 242 parameters: ≈ 5,300 launches
//! per step). CubeCL devices run each parameter's update and its norm
//! contribution as one kernel each (`cube.rs`); other backends run the tensor
//! ops of `reference.rs`, which define the semantics.

mod autodiff;
mod cpu;
#[cfg(feature = "cuda")]
mod cube;
#[cfg(feature = "cuda")]
mod kernels;
mod reference;

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;

pub use reference::{adamw_update_composite, sum_of_squares_composite};

/// The scalars of one AdamW step of one parameter (decoupled weight decay,
/// as `torch.optim.AdamW`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AdamWScalars {
    /// Learning rate.
    pub lr: f64,
    /// Decoupled weight decay.
    pub weight_decay: f64,
    /// First-moment decay β₁.
    pub beta1: f64,
    /// Second-moment decay β₂.
    pub beta2: f64,
    /// ε added to √v̂.
    pub eps: f64,
    /// Steps taken, this one included (t ≥ 1): the bias corrections are
    /// 1 − β₁ᵗ and 1 − β₂ᵗ.
    pub step: i32,
    /// Factor on the gradient before anything else (global-norm clipping;
    /// 1 without).
    pub grad_scale: f64,
}

impl AdamWScalars {
    /// 1 − β₁ᵗ.
    fn bias1(&self) -> f64 {
        1.0 - self.beta1.powi(self.step)
    }

    /// 1 − β₂ᵗ.
    fn bias2(&self) -> f64 {
        1.0 - self.beta2.powi(self.step)
    }
}

/// Backends with a one-pass AdamW step and squared norm.
pub trait AdamWOps: Backend {
    /// One AdamW step on flat tensors of one length: `param`, `grad`, the
    /// first moment `m` and the second `v` → (param′, m′, v′), with
    /// g = s·grad, m′ = β₁m + (1 − β₁)g, v′ = β₂v + (1 − β₂)g² and
    /// param′ = (1 − lr·wd)·param − lr·m̂ / (√v̂ + ε), where
    /// m̂ = m′ / (1 − β₁ᵗ) and v̂ = v′ / (1 − β₂ᵗ).
    fn adamw_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        scalars: &AdamWScalars,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        adamw_update_composite::<Self>(param, grad, m, v, scalars)
    }

    /// Σ x² over every element of every tensor, as a one-element tensor on
    /// `device` (zero for no tensors).
    fn sum_of_squares(tensors: Vec<FloatTensor<Self>>, device: &Self::Device) -> FloatTensor<Self> {
        sum_of_squares_composite::<Self>(tensors, device)
    }
}
