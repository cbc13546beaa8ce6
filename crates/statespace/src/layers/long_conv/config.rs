//! The long-convolution layer's settings, by safari's `LongConv` /
//! `LongConvKernel` argument names.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layers::activation::Activation;
use crate::size::{overflow, sum_of_products};

/// What follows the activation (safari's `postact`): a linear map of the
/// C·H channels back to H, through a GLU (to 2H, then a·σ(b)) or an
/// activation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PostAct {
    /// Linear to 2H, then the gated linear unit over the channel axis.
    Glu,
    /// Linear to H, then this activation (`identity` for none).
    #[serde(untagged)]
    Activation(Activation),
}

/// A long convolution over `d_model` channels with an explicit learned
/// kernel of `l_max` taps per channel (Fu et al., "Simple
/// Hardware-Efficient Long Convolutions").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LongConvConfig {
    /// Model width H.
    pub d_model: usize,
    /// Kernel length (taps per channel and output channel).
    pub l_max: usize,
    /// Output channels per input channel C.
    pub channels: usize,
    /// Soft threshold λ of the kernel: k → sign(k)·max(|k| − λ, 0).
    pub lam: f64,
    /// Moving-average smoothing of the kernel before the threshold (an odd
    /// window, zeros past the ends counted), or none.
    pub ma_window_len: Option<usize>,
    /// A second (anti-causal) kernel per channel.
    pub bidirectional: bool,
    /// Activation after the convolution.
    pub activation: Activation,
    /// The output map (`None`: the C·H channels are the output).
    pub postact: Option<PostAct>,
}

impl Default for LongConvConfig {
    fn default() -> Self {
        Self::new(64, 1024)
    }
}

impl LongConvConfig {
    /// safari's defaults: one channel, λ 0.1, no smoothing, causal, GELU,
    /// GLU output.
    pub fn new(d_model: usize, l_max: usize) -> Self {
        Self {
            d_model,
            l_max,
            channels: 1,
            lam: 0.1,
            ma_window_len: None,
            bidirectional: false,
            activation: Activation::Gelu,
            postact: Some(PostAct::Glu),
        }
    }

    /// Kernel channels: C, or 2C when bidirectional.
    pub fn kernel_channels(&self) -> usize {
        if self.bidirectional {
            2 * self.channels
        } else {
            self.channels
        }
    }

    /// Fails, naming the field, on a size that cannot work.
    pub fn validate(&self) -> Result<()> {
        for (key, value) in [
            ("d_model", self.d_model),
            ("l_max", self.l_max),
            ("channels", self.channels),
        ] {
            if value == 0 {
                return Err(Error::config(key, "must be at least 1"));
            }
        }
        if !(self.lam >= 0.0 && self.lam.is_finite()) {
            return Err(Error::config(
                "lam",
                format!("must be finite and ≥ 0, got {}", self.lam),
            ));
        }
        if let Some(w) = self.ma_window_len
            && w % 2 == 0
        {
            return Err(Error::config(
                "ma_window_len",
                format!("the smoothing window must be odd (safari asserts it), got {w}"),
            ));
        }
        Ok(())
    }

    /// The number of parameters, in checked arithmetic: the kernel taps,
    /// D, and the output map (C·H → 2H for the GLU, → H otherwise); call
    /// after [`Self::validate`].
    pub fn param_count(&self) -> Result<usize> {
        let (h, c) = (self.d_model, self.channels);
        let out = match self.postact {
            None => 0,
            Some(PostAct::Glu) => 2 * h,
            Some(PostAct::Activation(_)) => h,
        };
        sum_of_products(&[
            &[self.kernel_channels(), h, self.l_max],
            &[c, h],
            &[c, h, out],
            &[out],
        ])
        .ok_or_else(|| overflow("l_max"))
    }
}
