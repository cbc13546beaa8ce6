//! The rotary keys and queries and their gradients in tensor ops: the
//! semantics every backend is checked against, and the trait's defaults.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;

use super::{RotaryGrads, RotaryPairs};
use crate::ops::support::primitive::{float, tensor};

/// p = x widened to the heads plus the bias: x (B, L, R, G, N),
/// bias (H, R, N) → (B, L, R, H, N).
fn with_bias<B: Backend>(x: Tensor<B, 5>, bias: Tensor<B, 3>) -> Tensor<B, 5> {
    let [batch, len, r, g, n] = x.dims();
    let heads = bias.dims()[0];
    let widened = x
        .reshape([batch, len, r, g, 1, n])
        .repeat_dim(4, heads / g)
        .reshape([batch, len, r, heads, n]);
    widened + bias.swap_dims(0, 1).unsqueeze_dim::<4>(0).unsqueeze_dim(0)
}

/// The first and second entries of every pair of t (B, L, R, H, N), each
/// (B, L, R, H, N/2).
fn split<B: Backend>(t: Tensor<B, 5>, pairs: RotaryPairs) -> (Tensor<B, 5>, Tensor<B, 5>) {
    let [batch, len, r, heads, n] = t.dims();
    let half = n / 2;
    match pairs {
        RotaryPairs::Adjacent => {
            let v = t.reshape([batch, len, r, heads * half, 2]);
            let entry = |k: usize| {
                v.clone()
                    .narrow(4, k, 1)
                    .reshape([batch, len, r, heads, half])
            };
            (entry(0), entry(1))
        }
        RotaryPairs::Halves => (t.clone().narrow(4, 0, half), t.narrow(4, half, half)),
    }
}

/// The inverse of [`split`].
fn join<B: Backend>(first: Tensor<B, 5>, second: Tensor<B, 5>, pairs: RotaryPairs) -> Tensor<B, 5> {
    let [batch, len, r, heads, half] = first.dims();
    match pairs {
        RotaryPairs::Adjacent => {
            Tensor::stack::<6>(vec![first, second], 5).reshape([batch, len, r, heads, 2 * half])
        }
        RotaryPairs::Halves => Tensor::cat(vec![first, second], 4),
    }
}

/// R(θ) (or, `transpose`, R(θ)ᵀ) applied to every pair of t
/// (B, L, R, H, N), θ (B, L, H, S) taken as zero past S.
fn rotate<B: Backend>(
    t: Tensor<B, 5>,
    theta: &Tensor<B, 4>,
    pairs: RotaryPairs,
    transpose: bool,
) -> Tensor<B, 5> {
    let [batch, len, _, heads, n] = t.dims();
    let half = n / 2;
    let s = theta.dims()[3];
    let full = if s < half {
        let pad = Tensor::zeros(
            [batch, len, heads, half - s],
            (&theta.device(), theta.dtype()),
        );
        Tensor::cat(vec![theta.clone(), pad], 3)
    } else {
        theta.clone()
    };
    let full = full.unsqueeze_dim::<5>(2);
    let (cos, sin) = (full.clone().cos(), full.sin());
    let sin = if transpose { sin.neg() } else { sin };
    let (a, b) = split(t, pairs);
    join(
        a.clone() * cos.clone() - b.clone() * sin.clone(),
        a * sin + b * cos,
        pairs,
    )
}

/// The rotary keys or queries as tensor ops (see the module doc).
/// Unchecked: [`super::rotary`] is the checked entry.
pub fn rotary_composite<B: Backend>(
    x: FloatTensor<B>,
    bias: FloatTensor<B>,
    theta: FloatTensor<B>,
    pairs: RotaryPairs,
) -> FloatTensor<B> {
    let p = with_bias(tensor::<B, 5>(x), tensor(bias));
    float(rotate(p, &tensor(theta), pairs, false))
}

/// The gradients of [`rotary_composite`] from ∂y (B, L, R, H, N) as tensor
/// ops: ∂p = R(θ)ᵀ ∂y, ∂θᵢ = Σ_r (g_b a' − gₐ b'), ∂x and ∂bias sums of
/// ∂p. Unchecked.
pub fn rotary_backward_composite<B: Backend>(
    x: FloatTensor<B>,
    bias: FloatTensor<B>,
    theta: FloatTensor<B>,
    grad: FloatTensor<B>,
    pairs: RotaryPairs,
) -> RotaryGrads<FloatTensor<B>> {
    let x: Tensor<B, 5> = tensor(x);
    let bias: Tensor<B, 3> = tensor(bias);
    let theta: Tensor<B, 4> = tensor(theta);
    let grad: Tensor<B, 5> = tensor(grad);
    let [batch, len, _, g, n] = x.dims();
    let heads = bias.dims()[0];
    let s = theta.dims()[3];
    let y = rotate(with_bias(x, bias), &theta, pairs, false);
    let (ya, yb) = split(y, pairs);
    let (ga, gb) = split(grad.clone(), pairs);
    let per_pair = (gb * ya - ga * yb)
        .sum_dim(2)
        .reshape([batch, len, heads, n / 2]);
    let grad_theta = if s == 0 {
        Tensor::zeros([batch, len, heads, 0], (&theta.device(), theta.dtype()))
    } else {
        per_pair.narrow(3, 0, s)
    };
    let (grad_x, grad_bias) = input_and_bias_grads(rotate(grad, &theta, pairs, true), g);
    RotaryGrads {
        x: float(grad_x),
        bias: float(grad_bias),
        theta: float(grad_theta),
    }
}

/// ∂x (B, L, R, G, N) and ∂bias (H, R, N) from ∂p (B, L, R, H, N): sums
/// over the heads of each of the `groups` groups and over (B, L).
fn input_and_bias_grads<B: Backend>(
    grad_p: Tensor<B, 5>,
    groups: usize,
) -> (Tensor<B, 5>, Tensor<B, 3>) {
    let [batch, len, r, heads, n] = grad_p.dims();
    let columns = grad_p
        .clone()
        .reshape([batch * len, r * heads * n])
        .sum_dim(0)
        .reshape([r * heads * n]);
    (
        input_grads(grad_p, groups),
        bias_grads(columns, r, heads, n),
    )
}

/// ∂x (B, L, R, G, N) from ∂p (B, L, R, H, N): sums over the heads of each
/// of the `groups` groups.
pub(super) fn input_grads<B: Backend>(grad_p: Tensor<B, 5>, groups: usize) -> Tensor<B, 5> {
    let [batch, len, r, heads, n] = grad_p.dims();
    grad_p
        .reshape([batch, len, r, groups, heads / groups, n])
        .sum_dim(4)
        .reshape([batch, len, r, groups, n])
}

/// ∂bias (H, R, N) from the sums of ∂p over (B, L), (R·H·N) in ∂p's order.
pub(super) fn bias_grads<B: Backend>(
    columns: Tensor<B, 1>,
    r: usize,
    heads: usize,
    n: usize,
) -> Tensor<B, 3> {
    columns.reshape([r, heads, n]).swap_dims(0, 1)
}
