//! The causal depthwise convolution of the Mamba mixers, as a layer with
//! mamba_ssm's parameter names.

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use rand::Rng;

use crate::error::{Error, Result};
use crate::ops::{CausalConv1dOps, causal_conv1d};
use crate::random::uniform;

/// A depthwise causal convolution, parameters as PyTorch's `nn.Conv1d`
/// with groups = channels: weight (D, 1, K), bias (D).
#[derive(Module, Debug)]
pub struct CausalConv1d<B: Backend> {
    /// Taps, (D, 1, K).
    pub weight: Param<Tensor<B, 3>>,
    /// Bias, (D).
    pub bias: Option<Param<Tensor<B, 1>>>,
}

impl<B: CausalConv1dOps> CausalConv1d<B> {
    /// x (B, L, D) after `state` (B, D, K − 1) → (y (B, L, D), new state),
    /// y passed through SiLU when `silu` (fused on GPUs). Fails as
    /// [`causal_conv1d()`] does.
    pub fn forward(
        &self,
        x: Tensor<B, 3>,
        state: Option<Tensor<B, 3>>,
        silu: bool,
    ) -> Result<(Tensor<B, 3>, Tensor<B, 3>)> {
        causal_conv1d(
            x,
            self.weight.val(),
            self.bias.as_ref().map(|b| b.val()),
            state,
            silu,
        )
    }

    /// The same taps read as a centred (non-causal) window, PyTorch's
    /// `nn.Conv1d(padding = K // 2)` for odd K:
    /// y\[t\] = bias + Σ_k weight\[k\] · x[t + k − K/2], zero outside [0, L).
    /// x (B, L, D) → (B, L, D), through SiLU when `silu`. It is the causal
    /// convolution of x followed by K/2 zeros, read K/2 steps later.
    pub fn forward_centred(&self, x: Tensor<B, 3>, silu: bool) -> Result<Tensor<B, 3>> {
        let [batch, len, channels] = x.dims();
        let half = self.width() / 2;
        if half == 0 {
            return Ok(self.forward(x, None, silu)?.0);
        }
        let tail = Tensor::zeros([batch, half, channels], (&x.device(), x.dtype()));
        let padded = Tensor::cat(vec![x, tail], 1);
        let (y, _) = self.forward(padded, None, silu)?;
        Ok(y.narrow(1, half, len))
    }
}

impl<B: Backend> CausalConv1d<B> {
    /// PyTorch's default initialisation of a depthwise `nn.Conv1d`: weight
    /// and bias ~ U(−1/√K, 1/√K), drawn from `rng` (weight first).
    pub fn init(
        channels: usize,
        width: usize,
        bias: bool,
        device: &B::Device,
        rng: &mut impl Rng,
    ) -> Self {
        let bound = 1.0 / (width.max(1) as f64).sqrt();
        Self {
            weight: Param::from_tensor(uniform(rng, [channels, 1, width], -bound, bound, device)),
            bias: bias.then(|| Param::from_tensor(uniform(rng, [channels], -bound, bound, device))),
        }
    }

    /// Kernel width K.
    pub fn width(&self) -> usize {
        self.weight.val().dims()[2]
    }
}

impl<B: Backend> CausalConv1d<B> {
    /// Channels D.
    pub fn channels(&self) -> usize {
        self.weight.val().dims()[0]
    }

    /// Fails unless `state` is (batch, D, K − 1), the state this layer
    /// carries for `batch` sequences.
    pub fn check_state(&self, state: &Tensor<B, 3>, batch: usize) -> Result<()> {
        let expected = [batch, self.channels(), self.width() - 1];
        if state.dims() != expected {
            return Err(Error::shape("conv state", &expected, &state.dims()));
        }
        Ok(())
    }
}
