//! Causal depthwise 1-D convolution (Mamba's short convolution), with a
//! rolling state for streaming and stepping.
//!
//! y[b, d, t] = bias[d] + Σ_{k<K} w[d, k] · x[b, d, t − (K − 1) + k], with x
//! before the start taken from the state (the previous K − 1 inputs; zeros
//! for a fresh sequence). Composed of differentiable tensor ops.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// Convolves `x` (B, D, L) with depthwise `weight` (D, 1, K) and `bias` (D),
/// after the `state` (B, D, K − 1) of earlier inputs (zeros if `None`).
/// Returns y (B, D, L) and the new state (B, D, K − 1): the last K − 1
/// inputs seen.
pub fn causal_conv1d<B: Backend>(
    x: Tensor<B, 3>,
    weight: Tensor<B, 3>,
    bias: Option<Tensor<B, 1>>,
    state: Option<Tensor<B, 3>>,
) -> (Tensor<B, 3>, Tensor<B, 3>) {
    let [batch, dim, len] = x.dims();
    let k = weight.dims()[2];
    let history =
        state.unwrap_or_else(|| Tensor::zeros([batch, dim, k - 1], (&x.device(), x.dtype())));
    let padded = Tensor::cat(vec![history, x], 2); // (B, D, K − 1 + L)
    let w = weight.reshape([1, dim, k]);
    let mut y = padded.clone().narrow(2, 0, len) * w.clone().narrow(2, 0, 1);
    for tap in 1..k {
        y = y + padded.clone().narrow(2, tap, len) * w.clone().narrow(2, tap, 1);
    }
    if let Some(bias) = bias {
        y = y + bias.reshape([1, dim, 1]);
    }
    let total = k - 1 + len;
    let new_state = padded.narrow(2, total - (k - 1), k - 1);
    (y, new_state)
}
