//! The convolution and its backward pass in tensor ops: every tap is a
//! contiguous slice of the channel-last x̃ times a broadcast row of taps.

use burn::tensor::Tensor;
use burn::tensor::activation::{sigmoid, silu};
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;

use super::ConvGrads;
use crate::ops::support::primitive::{float, tensor};

/// Tap i of weight (D, K) as a broadcast row (1, 1, D).
fn tap<B: Backend>(weight: &Tensor<B, 2>, i: usize) -> Tensor<B, 3> {
    let dim = weight.dims()[0];
    weight.clone().narrow(1, i, 1).reshape([1, 1, dim])
}

/// The convolution before the activation, from x̃ (B, K − 1 + L, D).
fn pre_activation<B: Backend>(
    padded: &Tensor<B, 3>,
    weight: &Tensor<B, 2>,
    bias: Tensor<B, 1>,
    len: usize,
) -> Tensor<B, 3> {
    let [dim, k] = weight.dims();
    let mut y = padded.clone().narrow(1, 0, len) * tap(weight, 0);
    for i in 1..k {
        y = y + padded.clone().narrow(1, i, len) * tap(weight, i);
    }
    y + bias.reshape([1, 1, dim])
}

/// [`super::CausalConv1dOps::causal_conv1d_forward`] in tensor ops.
/// Unchecked: a reference for the backends; [`super::causal_conv1d`] is
/// the checked entry.
pub fn conv_forward_composite<B: Backend>(
    x: FloatTensor<B>,
    history: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    silu_after: bool,
) -> FloatTensor<B> {
    let x: Tensor<B, 3> = tensor(x);
    let len = x.dims()[1];
    let padded = Tensor::cat(vec![tensor(history), x], 1);
    let y = pre_activation(&padded, &tensor(weight), tensor(bias), len);
    float(if silu_after { silu(y) } else { y })
}

/// [`super::CausalConv1dOps::causal_conv1d_backward`] in tensor ops;
/// unchecked, as the forward.
pub fn conv_backward_composite<B: Backend>(
    x: FloatTensor<B>,
    history: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    silu_after: bool,
    grad_y: FloatTensor<B>,
) -> ConvGrads<FloatTensor<B>> {
    let x: Tensor<B, 3> = tensor(x);
    let weight: Tensor<B, 2> = tensor(weight);
    let [batch, len, dim] = x.dims();
    let k = weight.dims()[1];
    let padded = Tensor::cat(vec![tensor(history), x], 1); // (B, K − 1 + L, D)
    let mut g: Tensor<B, 3> = tensor(grad_y);
    if silu_after {
        // silu′(p) = σ(p)·(1 + p·(1 − σ(p))).
        let p = pre_activation(&padded, &weight, tensor(bias), len);
        let s = sigmoid(p.clone());
        g = g * s.clone() * (p * (s.neg().add_scalar(1.0))).add_scalar(1.0);
    }
    // ∂x̃[s] = Σ_i w_i · ĝ[s − i]: ĝ padded by K − 1 zeros on both sides.
    let options = (&g.device(), g.dtype());
    let margin = Tensor::<B, 3>::zeros([batch, k - 1, dim], options);
    let g_padded = Tensor::cat(vec![margin.clone(), g.clone(), margin], 1);
    let total = len + k - 1;
    let mut d_padded = g_padded.clone().narrow(1, k - 1, total) * tap(&weight, 0);
    for i in 1..k {
        d_padded = d_padded + g_padded.clone().narrow(1, k - 1 - i, total) * tap(&weight, i);
    }
    let column_sum = |t: Tensor<B, 3>| t.sum_dim(0).sum_dim(1).reshape([dim]);
    let d_weight = Tensor::stack::<2>(
        (0..k)
            .map(|i| column_sum(g.clone() * padded.clone().narrow(1, i, len)))
            .collect(),
        1,
    );
    ConvGrads {
        x: float(d_padded.clone().narrow(1, k - 1, len)),
        history: float(d_padded.narrow(1, 0, k - 1)),
        weight: float(d_weight),
        bias: float(column_sum(g)),
    }
}
