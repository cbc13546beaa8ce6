//! GELU in its exact form, y = x·Φ(x) with Φ(x) = ½(1 + erf(x/√2)), as a
//! backend op with its own backward, ∂x = g·(Φ(x) + x·φ(x)) with
//! φ(x) = e^{−x²/2}/√(2π): one kernel each way on CubeCL devices, where the
//! composite is five tensor ops forward and about ten backward over the
//! whole activation.

mod autodiff;
#[cfg(feature = "cuda")]
mod cube;
#[cfg(feature = "cuda")]
mod kernels;

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorMetadata};
use burn_flex::Flex;
use std::f64::consts::{FRAC_1_SQRT_2, PI};

use crate::error::Result;
use crate::ops::support::primitive::{float, tensor};
use crate::ops::support::check;

/// Backends that compute GELU; the defaults are the tensor-op composites.
pub trait GeluOps: Backend {
    /// y = x·Φ(x), elementwise, any shape.
    fn gelu_exact(x: FloatTensor<Self>) -> FloatTensor<Self> {
        gelu_composite::<Self>(x)
    }

    /// ∂x = ∂y·(Φ(x) + x·φ(x)), shaped as x.
    fn gelu_exact_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        gelu_backward_composite::<Self>(x, grad)
    }
}

impl GeluOps for Flex {}

/// y = x·Φ(x) as tensor ops. Unchecked: a reference for the backends;
/// [`gelu`] is the checked entry.
pub fn gelu_composite<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let shape = x.shape();
    let x = flat::<B>(x);
    B::float_reshape(float(x.clone() * cdf(x)), shape)
}

/// ∂y·(Φ(x) + x·φ(x)) as tensor ops; unchecked (∂y shaped as x).
pub fn gelu_backward_composite<B: Backend>(
    x: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let shape = x.shape();
    let (x, grad) = (flat::<B>(x), flat::<B>(grad));
    let density = (x.clone().powi_scalar(2) * -0.5)
        .exp()
        .mul_scalar(1.0 / (2.0 * PI).sqrt());
    B::float_reshape(float(grad * (cdf(x.clone()) + x * density)), shape)
}

/// Any float tensor as a rank-1 view of its elements.
fn flat<B: Backend>(x: FloatTensor<B>) -> Tensor<B, 1> {
    let n = x.shape().num_elements();
    tensor(B::float_reshape(x, [n].into()))
}

/// Φ(x) = ½(1 + erf(x/√2)).
fn cdf<B: Backend>(x: Tensor<B, 1>) -> Tensor<B, 1> {
    (x * FRAC_1_SQRT_2).erf().add_scalar(1.0).mul_scalar(0.5)
}

/// GELU of `x` (any shape), exact (erf) form. Differentiable. Fails,
/// naming `x`, unless x is stored as a float type.
pub fn gelu<B: GeluOps, const D: usize>(x: Tensor<B, D>) -> Result<Tensor<B, D>> {
    check::float_dtype("gelu", "x", x.dtype())?;
    Ok(tensor(B::gelu_exact(float(x))))
}

#[cfg(test)]
mod tests {
    use burn::backend::Autodiff;
    use burn::tensor::Tensor;
    use burn_flex::Flex;

    use super::{cdf, gelu};
    use crate::golden::rel_err;
    use crate::io::HostTensor;

    type AD = Autodiff<Flex>;

    /// The op and its hand-written backward against autodiff of x·Φ(x).
    #[test]
    fn gelu_and_gradient_equal_autodiff_of_the_formula() {
        let device = Default::default();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(4);
        let x = crate::random::normal::<AD, 2>(&mut rng, [7, 33], 0.0, 3.0, &device).require_grad();
        let g = crate::random::normal::<AD, 2>(&mut rng, [7, 33], 0.0, 1.0, &device);
        let ours = gelu(x.clone()).unwrap();
        let flat = x.clone().reshape([7 * 33]);
        let reference = (flat.clone() * cdf(flat)).reshape([7, 33]);
        let host = |t: &Tensor<AD, 2>| HostTensor::from_tensor(t).data;
        assert!(rel_err(&host(&ours), &host(&reference)) < 1e-7);
        let g1 = (ours * g.clone()).sum().backward();
        let g2 = (reference * g).sum().backward();
        let grad = |grads| HostTensor::from_tensor(&x.grad(grads).expect("tracked")).data;
        let err = rel_err(&grad(&g1), &grad(&g2));
        assert!(err < 1e-6, "{err:.2e}");
    }
}
