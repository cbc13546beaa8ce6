//! Mamba-3's rotary keys and queries: group-shared vectors widened to the
//! heads, a per-head bias added, and pairs of entries rotated by the
//! accumulated angles.
//!
//! x (B, L, R, G, N), bias (H, R, N), θ (B, L, H, S) with S ≤ N/2 and G
//! dividing H; head h reads group g = h / (H/G). With p = x[·, g] + bias\[h\]
//! and the i-th pair (a, b) of p,
//!
//! (a, b) → (a cos θᵢ − b sin θᵢ, a sin θᵢ + b cos θᵢ)  for i < S,
//!
//! the pairs past S unrotated; y is (B, L, R, H, N). The pairs are
//! (2i, 2i + 1) ([`RotaryPairs::Adjacent`], Mamba-3 SISO) or (i, i + N/2)
//! ([`RotaryPairs::Halves`], MIMO): the official kernels' layouts.
//!
//! Backward, with (a', b') the rotated pair and (gₐ, g_b) its gradient:
//! ∂p = R(θ)ᵀ g, ∂θᵢ = Σ_r (g_b a' − gₐ b'), ∂x = Σ over the heads of a
//! group of ∂p, ∂bias = Σ over (B, L) of ∂p. On CubeCL devices one kernel
//! each way (the reductions of ∂p after), where the composite is about
//! twenty tensor ops forward.

mod autodiff;
mod cpu;
#[cfg(feature = "cuda")]
mod cube;
#[cfg(feature = "cuda")]
mod kernels;
mod reference;

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;

use crate::error::{Error, Result};
use crate::ops::support::check;
use crate::ops::support::primitive::{float, tensor};

pub use reference::{rotary_backward_composite, rotary_composite};

/// Which entries of an N-vector form the rotated pairs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RotaryPairs {
    /// (2i, 2i + 1).
    Adjacent,
    /// (i, i + N/2).
    Halves,
}

impl RotaryPairs {
    /// The entries of pair `i` of an `n`-vector.
    pub fn entries(self, i: usize, n: usize) -> (usize, usize) {
        match self {
            Self::Adjacent => (2 * i, 2 * i + 1),
            Self::Halves => (i, i + n / 2),
        }
    }
}

/// The gradients of [`rotary`]: ∂x (B, L, R, G, N), ∂bias (H, R, N),
/// ∂θ (B, L, H, S).
#[derive(Debug, Clone)]
pub struct RotaryGrads<T> {
    pub x: T,
    pub bias: T,
    pub theta: T,
}

/// Backends that compute the rotary keys and queries; the defaults are
/// the tensor-op composites.
pub trait RotaryOps: Backend {
    /// y (B, L, R, H, N) of x (B, L, R, G, N), bias (H, R, N) and
    /// θ (B, L, H, S) (see the module doc).
    fn rotary(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        theta: FloatTensor<Self>,
        pairs: RotaryPairs,
    ) -> FloatTensor<Self> {
        rotary_composite::<Self>(x, bias, theta, pairs)
    }

    /// The gradients of x, bias and θ from ∂y (B, L, R, H, N).
    fn rotary_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        theta: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        pairs: RotaryPairs,
    ) -> RotaryGrads<FloatTensor<Self>> {
        rotary_backward_composite::<Self>(x, bias, theta, grad, pairs)
    }
}

/// The rotary keys or queries (B, L, R, H, N) of `x` (B, L, R, G, N),
/// `bias` (H, R, N) and angles `theta` (B, L, H, S). Differentiable. Fails,
/// naming the argument, on an odd N, H not a multiple of G, S past N/2,
/// mismatched shapes, dtypes or devices.
pub fn rotary<B: RotaryOps>(
    x: Tensor<B, 5>,
    bias: Tensor<B, 3>,
    theta: Tensor<B, 4>,
    pairs: RotaryPairs,
) -> Result<Tensor<B, 5>> {
    const OP: &str = "rotary";
    check::floats_on_one_device(
        OP,
        &[
            check::arg("x", &x),
            check::arg("bias", &bias),
            check::arg("theta", &theta),
        ],
    )?;
    let [batch, len, r, g, n] = x.dims();
    let [heads, _, _] = bias.dims();
    let s = theta.dims()[3];
    if n % 2 == 1 {
        return Err(Error::shape(
            "rotary: x (B, L, R, G, N) with N even",
            &[batch, len, r, g, n + 1],
            &x.dims(),
        ));
    }
    if g == 0 || heads % g != 0 {
        return Err(Error::shape(
            "rotary: bias (H, R, N) with H a multiple of x's G",
            &[g.max(1) * heads.div_ceil(g.max(1)), r, n],
            &bias.dims(),
        ));
    }
    check::shape(OP, "bias (H, R, N)", &[heads, r, n], &bias.dims())?;
    check::shape(
        OP,
        "theta (B, L, H, S ≤ N/2)",
        &[batch, len, heads, s.min(n / 2)],
        &theta.dims(),
    )?;
    Ok(tensor(B::rotary(
        float(x),
        float(bias),
        float(theta),
        pairs,
    )))
}

#[cfg(test)]
mod tests {
    use burn::backend::Autodiff;
    use burn::tensor::Tensor;
    use burn_flex::Flex;

    use super::{RotaryPairs, rotary, rotary_backward_composite, rotary_composite};
    use crate::io::HostTensor;
    use crate::ops::support::primitive::{float, tensor};

    type AD = Autodiff<Flex>;

    /// One pair rotated by a quarter turn, the other passed through; the
    /// bias added per head; the group shared by two heads.
    #[test]
    fn quarter_turn_by_hand() {
        let device = Default::default();
        // x (1, 1, 1, 1, 4): one group, N 4; two heads; S 1.
        let x = Tensor::<Flex, 5>::from_floats([[[[[1.0, 2.0, 3.0, 4.0]]]]], &device);
        let bias = Tensor::<Flex, 3>::from_floats(
            [[[0.0, 0.0, 0.0, 0.0]], [[1.0, 0.0, 0.0, 0.0]]],
            &device,
        );
        let theta = Tensor::<Flex, 4>::from_floats(
            [[[[std::f64::consts::FRAC_PI_2 as f32], [0.0]]]],
            &device,
        );
        let host = |t: Tensor<Flex, 5>| HostTensor::from_tensor(&t).data;
        let y = host(
            rotary(
                x.clone(),
                bias.clone(),
                theta.clone(),
                RotaryPairs::Adjacent,
            )
            .unwrap(),
        );
        let want = [-2.0, 1.0, 3.0, 4.0, 2.0, 2.0, 3.0, 4.0];
        assert!(
            y.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{y:?}"
        );
        let y = host(rotary(x, bias, theta, RotaryPairs::Halves).unwrap());
        let want = [-3.0, 2.0, 1.0, 4.0, 2.0, 2.0, 3.0, 4.0];
        assert!(
            y.iter().zip(want).all(|(a, b)| (a - b).abs() < 1e-6),
            "{y:?}"
        );
    }

    /// The hand-written backward composite against autodiff of the forward
    /// composite, both pairings, two groups of two heads, S < N/2.
    #[test]
    fn backward_equals_autodiff_of_the_forward() {
        let device = Default::default();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(9);
        let mut normal =
            |shape: [usize; 5]| crate::random::normal::<AD, 5>(&mut rng, shape, 0.0, 1.0, &device);
        let x = normal([2, 3, 2, 2, 8]).require_grad();
        let bias = normal([1, 1, 4, 2, 8]).reshape([4, 2, 8]).require_grad();
        let theta = normal([1, 2, 3, 4, 3]).reshape([2, 3, 4, 3]).require_grad();
        let g = normal([2, 3, 2, 4, 8]);
        for pairs in [RotaryPairs::Adjacent, RotaryPairs::Halves] {
            let y: Tensor<AD, 5> = tensor(rotary_composite::<AD>(
                float(x.clone()),
                float(bias.clone()),
                float(theta.clone()),
                pairs,
            ));
            let grads = (y * g.clone()).sum().backward();
            let ours = rotary_backward_composite::<Flex>(
                float(x.clone().inner()),
                float(bias.clone().inner()),
                float(theta.clone().inner()),
                float(g.clone().inner()),
                pairs,
            );
            let values = |d: burn::tensor::TensorData| d.to_vec::<f32>().unwrap();
            let compared = [
                (
                    values(x.grad(&grads).unwrap().into_data()),
                    values(tensor::<Flex, 5>(ours.x).into_data()),
                ),
                (
                    values(bias.grad(&grads).unwrap().into_data()),
                    values(tensor::<Flex, 3>(ours.bias).into_data()),
                ),
                (
                    values(theta.grad(&grads).unwrap().into_data()),
                    values(tensor::<Flex, 4>(ours.theta).into_data()),
                ),
            ];
            for (autodiff, hand) in compared {
                assert_eq!(autodiff.len(), hand.len());
                let err = autodiff
                    .iter()
                    .zip(&hand)
                    .map(|(p, q)| (p - q).abs())
                    .fold(0.0f32, f32::max);
                assert!(err < 1e-5, "{pairs:?}: {err:.2e}");
            }
        }
    }
}
