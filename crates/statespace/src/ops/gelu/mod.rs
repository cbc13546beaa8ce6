//! GELU in its exact form, y = x·Φ(x) with Φ(x) = ½(1 + erf(x/√2)), as a
//! backend op with its own backward, ∂x = g·(Φ(x) + x·φ(x)) with
//! φ(x) = e^{−x²/2}/√(2π): one kernel each way on CubeCL devices, where the
//! composite (`reference.rs`) is five tensor ops forward and about ten
//! backward over the whole activation.

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

pub use reference::{gelu_backward_composite, gelu_composite};

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

    use super::{gelu, gelu_composite};
    use crate::io::HostTensor;
    use crate::ops::support::primitive::{float, tensor};

    type AD = Autodiff<Flex>;

    /// max |a − b| / max |b|.
    fn max_rel_err(actual: &[f64], expected: &[f64]) -> f64 {
        let diff = actual.iter().zip(expected).map(|(a, b)| (a - b).abs());
        let scale = expected.iter().map(|b| b.abs()).fold(0.0, f64::max);
        diff.fold(0.0, f64::max) / scale
    }

    /// The op and its hand-written backward against autodiff of x·Φ(x)
    /// (the reference composite, in tensor ops).
    #[test]
    fn gelu_and_gradient_equal_autodiff_of_the_formula() {
        let device = Default::default();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(4);
        let x = crate::random::normal::<AD, 2>(&mut rng, [7, 33], 0.0, 3.0, &device).require_grad();
        let g = crate::random::normal::<AD, 2>(&mut rng, [7, 33], 0.0, 1.0, &device);
        let ours = gelu(x.clone()).unwrap();
        let reference: Tensor<AD, 2> = tensor(gelu_composite::<AD>(float(x.clone())));
        let host = |t: &Tensor<AD, 2>| HostTensor::from_tensor(t).data;
        assert!(max_rel_err(&host(&ours), &host(&reference)) < 1e-7);
        let g1 = (ours * g.clone()).sum().backward();
        let g2 = (reference * g).sum().backward();
        let grad = |grads| HostTensor::from_tensor(&x.grad(grads).expect("tracked")).data;
        let err = max_rel_err(&grad(&g1), &grad(&g2));
        assert!(err < 1e-6, "{err:.2e}");
    }

    /// The fused CPU kernel runs the composite's float operations in its
    /// order: in f64 the same bits, forward and backward; in f32, with the
    /// vectorisable erf and exp, within a few ulp of the composite.
    #[test]
    fn the_fused_cpu_kernel_equals_the_composite() {
        use burn::tensor::TensorData;

        use super::GeluOps;
        use super::gelu_backward_composite;

        let device = Default::default();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(9);
        let x = crate::random::normal::<Flex, 2>(&mut rng, [5, 40_000], 0.0, 3.0, &device);
        let g = crate::random::normal::<Flex, 2>(&mut rng, [5, 40_000], 0.0, 1.0, &device);
        let data = |t: burn::tensor::ops::FloatTensor<Flex>| -> TensorData {
            tensor::<Flex, 2>(t).into_data()
        };
        let (x64, g64) = (
            x.clone().cast(burn::tensor::DType::F64),
            g.clone().cast(burn::tensor::DType::F64),
        );
        assert_eq!(
            data(Flex::gelu_exact(float(x64.clone()))),
            data(gelu_composite::<Flex>(float(x64.clone())))
        );
        assert_eq!(
            data(Flex::gelu_exact_backward(
                float(x64.clone()),
                float(g64.clone())
            )),
            data(gelu_backward_composite::<Flex>(float(x64), float(g64)))
        );
        let values = |t| -> Vec<f64> { data(t).convert::<f64>().to_vec().unwrap() };
        let err = max_rel_err(
            &values(Flex::gelu_exact(float(x.clone()))),
            &values(gelu_composite::<Flex>(float(x.clone()))),
        );
        assert!(err < 1e-6, "forward {err:.2e}");
        let err = max_rel_err(
            &values(Flex::gelu_exact_backward(
                float(x.clone()),
                float(g.clone()),
            )),
            &values(gelu_backward_composite::<Flex>(float(x), float(g))),
        );
        assert!(err < 1e-6, "backward {err:.2e}");
    }
}
