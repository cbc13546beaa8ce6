//! Normalisation layers with the parameter names of the reference models.

use super::batch_norm::BatchNorm;
use crate::error::Result;
use crate::ops::{NormKind, NormOps, norm, scale_columns};
use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// RMSNorm: y = x / √(mean(x²) + ε) · weight, over the last dimension
/// (as `MambaRMSNorm` / mamba_ssm's `RMSNorm`).
#[derive(Module, Debug)]
pub struct RmsNorm<B: Backend> {
    /// Scale, (d).
    pub weight: Param<Tensor<B, 1>>,
    /// ε added to the mean square.
    pub eps: f64,
}

impl<B: Backend> RmsNorm<B> {
    /// A unit-scale norm of width `d`.
    pub fn new(d: usize, eps: f64, device: &B::Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::ones([d], device)),
            eps,
        }
    }
}

impl<B: NormOps> RmsNorm<B> {
    /// Normalises the last dimension of `x` (…, d); fails as [`norm()`] does.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Result<Tensor<B, D>> {
        norm(x, self.weight.val(), None, self.eps, NormKind::Rms)
    }
}

/// Gated RMSNorm of Mamba-2 (`RMSNormGated`, norm before gate = false):
/// y = rmsnorm_g(x · silu(z)) · weight, where the mean square is taken over
/// groups of `d / n_groups` channels.
#[derive(Module, Debug)]
pub struct GatedRmsNorm<B: Backend> {
    /// Scale, (d).
    pub weight: Param<Tensor<B, 1>>,
    /// ε added to the mean square.
    pub eps: f64,
    /// Number of channel groups normalised separately.
    pub n_groups: usize,
    /// Normalise before gating (y = rmsnorm(x) · silu(z)) instead of after.
    pub norm_before_gate: bool,
}

impl<B: Backend> GatedRmsNorm<B> {
    /// A unit-scale gated norm of width `d` in `n_groups` groups.
    pub fn new(
        d: usize,
        n_groups: usize,
        eps: f64,
        norm_before_gate: bool,
        device: &B::Device,
    ) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::ones([d], device)),
            eps,
            n_groups,
            norm_before_gate,
        }
    }
}

impl<B: NormOps> GatedRmsNorm<B> {
    /// The fused norm kernel (`ops::norm`), whose weight gradient is a
    /// column sum; groups normalise with a unit weight and take the scale
    /// through a product with a column of ones. No (d) operand is broadcast
    /// over the B·L rows: autodiff would sum its gradient over them with
    /// burn's one-cube reduction along the leading axis on GPUs.
    fn normalise(&self, x: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let [batch, len, d] = x.dims();
        let g = self.n_groups;
        if g == 1 {
            return norm(x, self.weight.val(), None, self.eps, NormKind::Rms);
        }
        let (device, dtype) = (x.device(), x.dtype());
        let unit = Tensor::<B, 1>::ones([d / g], (&device, dtype));
        let normed = norm(
            x.reshape([batch, len, g, d / g]),
            unit,
            None,
            self.eps,
            NormKind::Rms,
        )?
        .reshape([batch * len, d]);
        Ok(scale_columns(normed, self.weight.val())?.reshape([batch, len, d]))
    }

    /// Applies the gated norm to x and gate z, both (B, L, d); fails as
    /// [`norm()`] does.
    pub fn forward(&self, x: Tensor<B, 3>, z: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let gate = burn::tensor::activation::silu(z);
        if self.norm_before_gate {
            Ok(self.normalise(x)? * gate)
        } else {
            self.normalise(x * gate)
        }
    }
}

/// LayerNorm over the last dimension: y = (x − mean) / √(var + ε) · weight + bias.
#[derive(Module, Debug)]
pub struct LayerNorm<B: Backend> {
    /// Scale, (d).
    pub weight: Param<Tensor<B, 1>>,
    /// Shift, (d).
    pub bias: Param<Tensor<B, 1>>,
    /// ε added to the variance.
    pub eps: f64,
}

impl<B: Backend> LayerNorm<B> {
    /// Unit scale, zero shift, width `d`.
    pub fn new(d: usize, eps: f64, device: &B::Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::ones([d], device)),
            bias: Param::from_tensor(Tensor::zeros([d], device)),
            eps,
        }
    }
}

impl<B: NormOps> LayerNorm<B> {
    /// Normalises the last dimension of `x` (…, d); fails as [`norm()`] does.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Result<Tensor<B, D>> {
        norm(
            x,
            self.weight.val(),
            Some(self.bias.val()),
            self.eps,
            NormKind::Layer,
        )
    }
}

/// Which normalisation a block uses.
#[derive(Module, Debug)]
pub enum Norm<B: Backend> {
    /// LayerNorm (S4's blocks).
    Layer(LayerNorm<B>),
    /// RMSNorm (Mamba's blocks).
    Rms(RmsNorm<B>),
    /// BatchNorm (S4's LRA recipes).
    Batch(BatchNorm<B>),
}

impl<B: NormOps> Norm<B> {
    /// Normalises the last dimension of `x`; fails as [`norm()`] does.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Result<Tensor<B, D>> {
        match self {
            Norm::Layer(n) => n.forward(x),
            Norm::Rms(n) => n.forward(x),
            Norm::Batch(n) => n.forward(x),
        }
    }
}
