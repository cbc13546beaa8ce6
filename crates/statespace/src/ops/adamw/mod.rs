//! The AdamW update and the squared gradient norm as backend extensions.
//!
//! Written with tensor ops, one AdamW step launches about eighteen kernels
//! per parameter and the norm four more; on a GPU, launching them costs
//! more than the arithmetic (a Mamba LM's 242 parameters: ≈ 5,300 launches
//! per step). CubeCL devices run each parameter's update and its norm
//! contribution as one kernel each ([`cube`]); other backends run the tensor
//! ops below, which define the semantics.

#[cfg(feature = "cuda")]
mod cube;
#[cfg(feature = "cuda")]
mod kernels;

use crate::ops::support::primitive::tensor;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn_flex::Flex;

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

impl AdamWOps for Flex {}

impl<B: Backend, C: burn_autodiff::checkpoint::strategy::CheckpointStrategy> AdamWOps
    for burn_autodiff::Autodiff<B, C>
{
}

/// [`AdamWOps::adamw_update`] in tensor ops. Unchecked: the four tensors
/// must be flat and of one length.
pub fn adamw_update_composite<B: Backend>(
    param: FloatTensor<B>,
    grad: FloatTensor<B>,
    m: FloatTensor<B>,
    v: FloatTensor<B>,
    s: &AdamWScalars,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let (param, grad, m, v) = (
        tensor::<B, 1>(param),
        tensor::<B, 1>(grad),
        tensor::<B, 1>(m),
        tensor::<B, 1>(v),
    );
    let g = grad.mul_scalar(s.grad_scale);
    let m = m.mul_scalar(s.beta1) + g.clone().mul_scalar(1.0 - s.beta1);
    let v = v.mul_scalar(s.beta2) + g.square().mul_scalar(1.0 - s.beta2);
    let m_hat = m.clone().div_scalar(s.bias1());
    let v_hat = v.clone().div_scalar(s.bias2());
    let decayed = param.mul_scalar(1.0 - s.lr * s.weight_decay);
    let param = decayed - m_hat.div(v_hat.sqrt().add_scalar(s.eps)).mul_scalar(s.lr);
    (
        param.into_primitive().tensor(),
        m.into_primitive().tensor(),
        v.into_primitive().tensor(),
    )
}

/// [`AdamWOps::sum_of_squares`] in tensor ops; unchecked (flat tensors).
pub fn sum_of_squares_composite<B: Backend>(
    tensors: Vec<FloatTensor<B>>,
    device: &B::Device,
) -> FloatTensor<B> {
    let total = tensors
        .into_iter()
        .map(|t| tensor::<B, 1>(t).square().sum())
        .reduce(|acc, s| acc + s)
        .unwrap_or_else(|| Tensor::zeros([1], device));
    total.into_primitive().tensor()
}
