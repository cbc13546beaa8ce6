//! A linear layer stored as PyTorch stores it, so checkpoints load without
//! transposes: y = x Wᵀ + b with W (d_out, d_in).

use crate::error::Result;
use crate::ops::{MatmulOps, add_bias, matmul};
use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;

use crate::random::uniform;

/// y = x Wᵀ + b.
#[derive(Module, Debug)]
pub struct Linear<B: Backend> {
    /// W, (d_out, d_in).
    pub weight: Param<Tensor<B, 2>>,
    /// b, (d_out).
    pub bias: Option<Param<Tensor<B, 1>>>,
}

impl<B: Backend> Linear<B> {
    /// PyTorch's default initialisation: W, b ~ U(−1/√d_in, 1/√d_in).
    /// Values drawn from `rng`.
    pub fn new(
        d_in: usize,
        d_out: usize,
        bias: bool,
        device: &B::Device,
        rng: &mut impl Rng,
    ) -> Self {
        let bound = 1.0 / (d_in.max(1) as f64).sqrt();
        let weight = Param::from_tensor(uniform(rng, [d_out, d_in], -bound, bound, device));
        Self {
            weight,
            bias: bias.then(|| Param::from_tensor(uniform(rng, [d_out], -bound, bound, device))),
        }
    }

    /// Output width d_out.
    pub fn d_out(&self) -> usize {
        self.weight.val().dims()[0]
    }
}

impl<B: MatmulOps> Linear<B> {
    /// Applies the layer to the last dimension of x (…, d_in) → (…, d_out).
    ///
    /// The leading dimensions are flattened so the product is one 2-D
    /// matmul against the transposed view of W (no copy of the weight).
    /// Fails as [`project`] does (x of another width than d_in).
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Result<Tensor<B, D>> {
        project(x, self.weight.val(), self.bias.as_ref().map(|b| b.val()))
    }
}

/// x Wᵀ (+ b) over the last dimension, for W (d_out, d_in); fails as
/// [`matmul()`] and [`add_bias`] do.
pub fn project<B: MatmulOps, const D: usize>(
    x: Tensor<B, D>,
    w: Tensor<B, 2>,
    bias: Option<Tensor<B, 1>>,
) -> Result<Tensor<B, D>> {
    let dims = x.dims();
    let d_in = dims[D - 1];
    let d_out = w.dims()[0];
    let rows: usize = dims[..D - 1].iter().product();
    let mut y = matmul(x.reshape([rows, d_in]), w.transpose())?;
    if let Some(b) = bias {
        y = add_bias(y, b)?;
    }
    let mut out = dims;
    out[D - 1] = d_out;
    Ok(y.reshape(out))
}

/// A linear layer stored as flax stores it: y = x K + b with the kernel K
/// (d_in, d_out) (flax's `Dense`, loaded without transposes).
#[derive(Module, Debug)]
pub struct Dense<B: Backend> {
    /// K, (d_in, d_out).
    pub kernel: Param<Tensor<B, 2>>,
    /// b, (d_out).
    pub bias: Param<Tensor<B, 1>>,
}

impl<B: Backend> Dense<B> {
    /// flax's default initialisation: K LeCun-normal (a normal truncated
    /// to ±2σ, variance 1/d_in), b = 0. Values drawn from `rng`.
    pub fn new(d_in: usize, d_out: usize, device: &B::Device, rng: &mut impl Rng) -> Self {
        let std = (1.0 / d_in.max(1) as f64).sqrt();
        let values = crate::random::truncated_normal_values(rng, d_in * d_out, std);
        Self {
            kernel: Param::from_tensor(
                Tensor::<B, 1>::from_floats(values.as_slice(), device).reshape([d_in, d_out]),
            ),
            bias: Param::from_tensor(Tensor::zeros([d_out], device)),
        }
    }
}

impl<B: MatmulOps> Dense<B> {
    /// x (…, d_in) → x K + b (…, d_out); fails as [`project`] does.
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Result<Tensor<B, D>> {
        project(x, self.kernel.val().transpose(), Some(self.bias.val()))
    }
}
