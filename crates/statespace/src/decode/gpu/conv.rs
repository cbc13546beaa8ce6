//! The depthwise causal convolution of a mixer's decode step on the GPU:
//! its taps, and the last K − 1 inputs of every sequence.

use burn::tensor::backend::Backend;

use super::device::{Arg, Buffer, Gpu};
use super::values;
use crate::error::{Error, Result};
use crate::layers::causal_conv::CausalConv1d;

/// Threads per block of the per-channel kernel.
const CHANNEL_THREADS: usize = 128;

/// A convolution over `channels` channels with `kernel` taps.
pub(super) struct GpuConv {
    /// Taps, (K, channels).
    taps: Buffer<f32>,
    bias: Option<Buffer<f32>>,
    /// (batch, channels, K − 1), oldest first.
    state: Buffer<f32>,
    pub(super) channels: usize,
    kernel: usize,
}

impl GpuConv {
    /// Uploads `conv`'s taps (transposed to (K, channels)) and a zero state
    /// for `batch` sequences.
    pub(super) fn new<B: Backend>(gpu: &Gpu, conv: &CausalConv1d<B>, batch: usize) -> Result<Self> {
        let [channels, _, kernel] = conv.weight.val().dims();
        let taps = values(conv.weight.val());
        let mut transposed = vec![0.0; taps.len()];
        for c in 0..channels {
            for k in 0..kernel {
                transposed[k * channels + c] = taps[c * kernel + k];
            }
        }
        Ok(Self {
            taps: gpu.upload(&transposed)?,
            bias: conv
                .bias
                .as_ref()
                .map(|b| gpu.upload(&values(b.val())))
                .transpose()?,
            state: gpu.zeros(batch * channels * (kernel - 1))?,
            channels,
            kernel,
        })
    }

    /// Replaces every sequence's state with `state`, (batch, channels, K −
    /// 1) as `dims` says (for the error).
    pub(super) fn load(&mut self, gpu: &Gpu, state: &[f32], dims: &[usize]) -> Result<()> {
        if state.len() != self.state.len() {
            let batch = self.state.len() / (self.channels * (self.kernel - 1)).max(1);
            return Err(Error::shape(
                "convolution state (batch, channels, K − 1)",
                &[batch, self.channels, self.kernel - 1],
                dims,
            ));
        }
        gpu.write(state, &mut self.state)
    }

    /// Queues one step: x[b, c] = the `channels` values at `input` + b ·
    /// `in_stride` (f32, a device address) → out (batch, channels) =
    /// silu(conv), advancing the state.
    pub(super) fn step(
        &self,
        gpu: &Gpu,
        input: u64,
        in_stride: usize,
        out: &Buffer<f32>,
        batch: usize,
    ) -> Result<()> {
        gpu.launch(
            "conv_step",
            (batch * self.channels).div_ceil(CHANNEL_THREADS),
            CHANNEL_THREADS,
            &[
                Arg::Ptr(input),
                Arg::size(in_stride)?,
                self.state.arg(),
                self.taps.arg(),
                self.bias.as_ref().map_or(Arg::Ptr(0), Buffer::arg),
                out.arg(),
                Arg::size(self.channels)?,
                Arg::size(self.kernel)?,
                Arg::size(batch)?,
            ],
        )
    }
}
