//! The causal depthwise convolution of the Mamba mixers, as a layer with
//! mamba_ssm's parameter names.

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::error::{Error, Result};
use crate::ops::{CausalConv1dOps, causal_conv1d};

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
    /// [`causal_conv1d`] does.
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
}

impl<B: Backend> CausalConv1d<B> {
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
