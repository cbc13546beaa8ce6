//! Causal depthwise 1-D convolution (Mamba's short convolution), with a
//! rolling state for streaming and stepping, and optionally the SiLU that
//! follows it in Mamba and Mamba-2 fused in.
//!
//! y[b, t, d] = act(bias\[d\] + Σ_{k<K} w[d, k] · x̃[b, t + k, d]), where x̃
//! (B, K − 1 + L, D) is the history (the previous K − 1 inputs; zeros for a
//! fresh sequence) followed by x, all channel-last. A backend extension
//! ([`CausalConv1dOps`]) with its own backward: ∂x̃\[s\] = Σ_k w[·, k] · ĝ[s − k],
//! ∂w[d, k] = Σ_{b,t} ĝ · x̃[b, t + k, d] and ∂bias = Σ_{b,t} ĝ, with
//! ĝ = ∂y · act′ (the pre-activation recomputed). The defaults are tensor
//! ops (every tap a contiguous slice times a broadcast row); the CPU runs
//! one fused pass forward and two backward (`cpu.rs`), and CubeCL devices
//! one kernel per pass (`cube.rs`), where the tensor ops cost ~30 launches
//! and two slow leading-axis sums per layer.

mod autodiff;
mod cpu;
#[cfg(feature = "cuda")]
mod cube;
#[cfg(feature = "cuda")]
mod kernels;
// Used by the CUDA launcher only; compiled and tested on every build.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
mod plan;
mod reference;

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};

use crate::error::Result;
use crate::ops::support::check::{self, arg};
use crate::ops::support::primitive::float;

pub use reference::{conv_backward_composite, conv_forward_composite};

/// The gradients of one convolution: ∂x (B, L, D), ∂history (B, K − 1, D),
/// ∂w (D, K), ∂bias (D).
pub struct ConvGrads<T> {
    /// ∂x.
    pub x: T,
    /// ∂history.
    pub history: T,
    /// ∂w.
    pub weight: T,
    /// ∂bias.
    pub bias: T,
}

/// Backends that run the causal depthwise convolution.
pub trait CausalConv1dOps: Backend {
    /// y (B, L, D) from x (B, L, D), history (B, K − 1, D), weight (D, K)
    /// and bias (D), followed by SiLU when `silu` (see the module doc).
    fn causal_conv1d_forward(
        x: FloatTensor<Self>,
        history: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        silu: bool,
    ) -> FloatTensor<Self> {
        conv_forward_composite::<Self>(x, history, weight, bias, silu)
    }

    /// The gradients of every input from ∂y (B, L, D).
    fn causal_conv1d_backward(
        x: FloatTensor<Self>,
        history: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        silu: bool,
        grad_y: FloatTensor<Self>,
    ) -> ConvGrads<FloatTensor<Self>> {
        conv_backward_composite::<Self>(x, history, weight, bias, silu, grad_y)
    }
}

/// Convolves `x` (B, L ≥ 1, D ≥ 1) with depthwise `weight` (D, 1, K), K ≥ 2, and
/// `bias` (D), after the `state` (B, D, K − 1) of earlier inputs (zeros if
/// `None`), then applies SiLU when `silu`. Returns y (B, L, D) and the new
/// state (B, D, K − 1): the last K − 1 inputs seen, oldest first.
/// Differentiable in x, the state, the weight and the bias.
///
/// Fails, naming the argument, unless the shapes are these, every input is
/// of one float dtype and all are on one device.
pub fn causal_conv1d<B: CausalConv1dOps>(
    x: Tensor<B, 3>,
    weight: Tensor<B, 3>,
    bias: Option<Tensor<B, 1>>,
    state: Option<Tensor<B, 3>>,
    silu: bool,
) -> Result<(Tensor<B, 3>, Tensor<B, 3>)> {
    validate(&x, &weight, bias.as_ref(), state.as_ref())?;
    let [batch, len, dim] = x.dims();
    let k = weight.dims()[2];
    let options = (&x.device(), x.dtype());
    let history = match state {
        Some(s) => s.swap_dims(1, 2),
        None => Tensor::zeros([batch, k - 1, dim], options),
    };
    let bias = bias.unwrap_or_else(|| Tensor::zeros([dim], options));
    let y = B::causal_conv1d_forward(
        float(x.clone()),
        float(history.clone()),
        float(weight.reshape([dim, k])),
        float(bias),
        silu,
    );
    let y = Tensor::from_primitive(TensorPrimitive::Float(y));
    // The last K − 1 of history ++ x: x's own tail when it is long enough.
    let new_history = if len >= k - 1 {
        x.narrow(1, len - (k - 1), k - 1)
    } else {
        Tensor::cat(vec![history, x], 1).narrow(1, len, k - 1)
    };
    Ok((y, new_history.swap_dims(1, 2)))
}

/// The input checks of [`causal_conv1d`]: the kernels index the bias and
/// the state by D and K unchecked, and the state and the steps are slices
/// of at least one step (burn narrows no axis to nothing).
fn validate<B: Backend>(
    x: &Tensor<B, 3>,
    weight: &Tensor<B, 3>,
    bias: Option<&Tensor<B, 1>>,
    state: Option<&Tensor<B, 3>>,
) -> Result<()> {
    const OP: &str = "causal_conv1d";
    let [batch, _, dim] = x.dims();
    let k = weight.dims()[2];
    check::shape(OP, "weight (D, 1, K)", &[dim, 1, k], &weight.dims())?;
    check::min_axis(OP, "weight (D, 1, K ≥ 2)", &weight.dims(), 2, 2)?;
    check::min_axis(OP, "x (B, L ≥ 1, D)", &x.dims(), 1, 1)?;
    check::min_axis(OP, "x (B, L, D ≥ 1)", &x.dims(), 2, 1)?;
    let mut args = vec![arg("x", x), arg("weight", weight)];
    if let Some(bias) = bias {
        check::shape(OP, "bias (D)", &[dim], &bias.dims())?;
        args.push(arg("bias", bias));
    }
    if let Some(state) = state {
        check::shape(
            OP,
            "state (B, D, K − 1)",
            &[batch, dim, k - 1],
            &state.dims(),
        )?;
        args.push(arg("state", state));
    }
    check::floats_on_one_device(OP, &args)
}

#[cfg(test)]
mod tests {
    use burn::backend::Autodiff;
    use burn::tensor::Tensor;
    use burn::tensor::activation::silu;
    use burn_flex::Flex;

    use super::causal_conv1d;

    type Ad = Autodiff<Flex>;

    /// The convolution in plain autodiff tensor ops, as it was composed
    /// before it had its own backward.
    fn reference(
        x: Tensor<Ad, 3>,
        weight: Tensor<Ad, 3>,
        bias: Tensor<Ad, 1>,
        state: Tensor<Ad, 3>,
        act: bool,
    ) -> Tensor<Ad, 3> {
        let [_, len, dim] = x.dims();
        let k = weight.dims()[2];
        let padded = Tensor::cat(vec![state.swap_dims(1, 2), x], 1);
        let taps = weight.reshape([dim, k]).transpose();
        let mut y = bias.reshape([1, 1, dim]);
        for i in 0..k {
            let tap = taps.clone().narrow(0, i, 1).reshape([1, 1, dim]);
            y = y + padded.clone().narrow(1, i, len) * tap;
        }
        if act { silu(y) } else { y }
    }

    /// The op's own backward (and forward) against autodiff of the tensor
    /// ops, on a strided x after a state, with and without the SiLU, for
    /// widths 4 and 2, and over more steps than one CPU task takes. Each
    /// side gets its own leaves (a backward pass frees the graph it walks).
    #[test]
    fn own_backward_matches_autodiff() {
        let device = Default::default();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(3);
        for (k, act, l) in [(4, true, 53), (4, false, 53), (2, true, 53), (4, true, 150)] {
            let (b, d) = (3, 40);
            let mut draw = |shape: [usize; 3]| {
                crate::random::normal::<Ad, 3>(&mut rng, shape, 0.0, 1.0, &device)
            };
            let (wide, w, s, g) = (
                draw([b, l, d + 3]),
                draw([d, 1, k]),
                draw([b, d, k - 1]),
                draw([b, l, d]),
            );
            let bias = crate::random::normal::<Ad, 1>(&mut rng, [d], 0.0, 1.0, &device);
            let run = |own: bool| {
                let leaves = (
                    wide.clone().require_grad(),
                    w.clone().require_grad(),
                    s.clone().require_grad(),
                    bias.clone().require_grad(),
                );
                let x = leaves.0.clone().narrow(2, 1, d);
                let (w, s, bias) = (leaves.1.clone(), leaves.2.clone(), leaves.3.clone());
                let y = if own {
                    causal_conv1d(x, w, Some(bias), Some(s), act).unwrap().0
                } else {
                    reference(x, w, bias, s, act)
                };
                let grads = (y.clone() * g.clone()).sum().backward();
                let grad = |t: &Tensor<Ad, 3>| t.grad(&grads).unwrap().into_data();
                [
                    y.into_data(),
                    grad(&leaves.0),
                    grad(&leaves.1),
                    grad(&leaves.2),
                    leaves.3.grad(&grads).unwrap().into_data(),
                ]
            };
            for (ours, theirs) in run(true).iter().zip(&run(false)) {
                ours.assert_approx_eq::<f32>(theirs, Default::default());
            }
        }
    }
}
