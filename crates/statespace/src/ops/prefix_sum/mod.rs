//! Running sums along the sequence axis of x (B, L, F):
//!
//! - forward: y[b, t, f] = Σ_{s ≤ t} x[b, s, f];
//! - reverse: y[b, t, f] = Σ_{s ≥ t} x[b, s, f].
//!
//! The backward of one direction is the other applied to ∂y. Mamba-3's
//! rotary angles θ = Σ Δ·π·tanh(angles) are such a sum over up to 65536
//! steps; on CubeCL devices it is three launches (chunk totals, their
//! carries, chunk scans: `ops::support::chunk_plan`), where burn's `cumsum` takes time
//! quadratic in L.

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

use crate::error::Result;
use crate::ops::support::check;
use crate::ops::support::primitive::{float, tensor};

pub use reference::prefix_sum_composite;

/// Backends that compute running sums; the default is the composite.
pub trait PrefixSumOps: Backend {
    /// y (B, L, F): running sums of x (B, L, F) along L, from the start
    /// or (`reverse`) from the end.
    fn prefix_sum(x: FloatTensor<Self>, reverse: bool) -> FloatTensor<Self> {
        prefix_sum_composite::<Self>(x, reverse)
    }
}

/// Running sums of `x` (B, L, F) along L: y[b, t] = Σ_{s ≤ t} x[b, s], or
/// Σ_{s ≥ t} when `reverse`. Differentiable. Fails, naming `x`, unless it
/// is stored as a float type.
pub fn prefix_sum<B: PrefixSumOps>(x: Tensor<B, 3>, reverse: bool) -> Result<Tensor<B, 3>> {
    check::float_dtype("prefix_sum", "x", x.dtype())?;
    Ok(tensor(B::prefix_sum(float(x), reverse)))
}

#[cfg(test)]
mod tests {
    use burn::backend::Autodiff;
    use burn::tensor::Tensor;
    use burn_flex::Flex;

    use super::prefix_sum;
    use crate::io::HostTensor;

    type AD = Autodiff<Flex>;

    /// Both directions against sums written out, and the gradient of
    /// Σ g·y: ∂x[t] = Σ_{s ≥ t} g[s] for the forward sums.
    #[test]
    fn sums_and_gradient_by_hand() {
        let device = Default::default();
        let x = Tensor::<AD, 3>::from_floats([[[1.0, 10.0], [2.0, 20.0], [3.0, 30.0]]], &device)
            .require_grad();
        let host = |t: &Tensor<AD, 3>| HostTensor::from_tensor(t).data;
        let y = prefix_sum(x.clone(), false).unwrap();
        assert_eq!(host(&y), [1.0, 10.0, 3.0, 30.0, 6.0, 60.0]);
        let r = prefix_sum(x.clone(), true).unwrap();
        assert_eq!(host(&r), [6.0, 60.0, 5.0, 50.0, 3.0, 30.0]);
        let g = Tensor::<AD, 3>::from_floats([[[1.0, 0.0], [0.0, 1.0], [2.0, 0.0]]], &device);
        let grads = (y * g).sum().backward();
        let dx = HostTensor::from_tensor(&x.grad(&grads).unwrap()).data;
        assert_eq!(dx, [3.0, 1.0, 2.0, 1.0, 2.0, 0.0]);
    }
}
