//! Causal depthwise 1-D convolution (Mamba's short convolution), with a
//! rolling state for streaming and stepping.
//!
//! y[b, t, d] = bias[d] + Σ_{k<K} w[d, k] · x[b, t − (K − 1) + k, d], with x
//! before the start taken from the state (the previous K − 1 inputs; zeros
//! for a fresh sequence). Composed of differentiable tensor ops, in the
//! channel-last layout: every tap is then a contiguous slice of the padded
//! input times a broadcast row, which the CPU backend runs on its fast path.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// Convolves `x` (B, L, D) with depthwise `weight` (D, 1, K) and `bias` (D),
/// after the `state` (B, D, K − 1) of earlier inputs (zeros if `None`).
/// Returns y (B, L, D) and the new state (B, D, K − 1): the last K − 1
/// inputs seen, oldest first.
pub fn causal_conv1d<B: Backend>(
    x: Tensor<B, 3>,
    weight: Tensor<B, 3>,
    bias: Option<Tensor<B, 1>>,
    state: Option<Tensor<B, 3>>,
) -> (Tensor<B, 3>, Tensor<B, 3>) {
    let [batch, len, dim] = x.dims();
    let k = weight.dims()[2];
    let history = match state {
        Some(s) => s.swap_dims(1, 2),
        None => Tensor::zeros([batch, k - 1, dim], (&x.device(), x.dtype())),
    };
    let padded = Tensor::cat(vec![history, x], 1); // (B, K − 1 + L, D)
    // (K, D): one contiguous row of taps per offset.
    let taps = weight.reshape([dim, k]).transpose().reshape([k, 1, 1, dim]);
    let tap = |i: usize| taps.clone().narrow(0, i, 1).reshape([1, 1, dim]);
    let mut y = padded.clone().narrow(1, 0, len) * tap(0);
    for i in 1..k {
        y = y + padded.clone().narrow(1, i, len) * tap(i);
    }
    if let Some(bias) = bias {
        y = y + bias.reshape([1, 1, dim]);
    }
    let total = k - 1 + len;
    let new_state = padded.narrow(1, total - (k - 1), k - 1).swap_dims(1, 2);
    (y, new_state)
}
