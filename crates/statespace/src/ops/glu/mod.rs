//! GLU along the last axis: for x (…, 2h) with halves a = x[…, :h] and
//! b = x[…, h:], y = a ⊙ σ(b), shaped (…, h); backward
//! ∂a = ∂y ⊙ σ(b) and ∂b = ∂y ⊙ a ⊙ σ(b)(1 − σ(b)), shaped as x. One pass
//! each way over packed rows, where the composite (`reference.rs`)
//! multiplies the two strided halves: on the CPU that product and its
//! backward walked strided iterators, about 13 % of an S4D training step.

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

pub use reference::{glu_backward_composite, glu_composite};

/// Backends that compute GLU; the defaults are the tensor-op composites.
pub trait GluOps: Backend {
    /// y (…, h) = a ⊙ σ(b) from x (…, 2h) = [a, b].
    fn glu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        glu_composite::<Self>(x)
    }

    /// ∂x (…, 2h) = [∂y ⊙ σ(b), ∂y ⊙ a ⊙ σ(b)(1 − σ(b))] from x (…, 2h) and
    /// ∂y (…, h).
    fn glu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        glu_backward_composite::<Self>(x, grad)
    }
}

/// GLU of `x` (…, 2h) along its last axis: (…, h). Differentiable. Fails,
/// naming `x`, unless x is stored as a float type and its last axis has an
/// even, non-zero length.
pub fn glu<B: GluOps, const D: usize>(x: Tensor<B, D>) -> Result<Tensor<B, D>> {
    check::float_dtype("glu", "x", x.dtype())?;
    let dims = x.dims();
    check::min_rank("glu", "x", 1, &dims)?;
    let last = dims[D - 1];
    if last == 0 || !last.is_multiple_of(2) {
        let mut expected = dims.to_vec();
        expected[D - 1] = (last / 2 + 1) * 2;
        return Err(crate::error::Error::shape(
            "glu: x (last axis 2h)",
            &expected,
            &dims,
        ));
    }
    Ok(tensor(B::glu(float(x))))
}

#[cfg(test)]
mod tests {
    use burn::backend::Autodiff;
    use burn::tensor::{Tensor, TensorData};
    use burn_flex::Flex;

    use super::{GluOps, glu, glu_backward_composite, glu_composite};
    use crate::io::HostTensor;
    use crate::ops::support::primitive::{float, tensor};

    type AD = Autodiff<Flex>;

    /// max |a − b| / max |b|.
    fn max_rel_err(actual: &[f64], expected: &[f64]) -> f64 {
        let diff = actual.iter().zip(expected).map(|(a, b)| (a - b).abs());
        let scale = expected.iter().map(|b| b.abs()).fold(0.0, f64::max);
        diff.fold(0.0, f64::max) / scale
    }

    /// The op and its hand-written backward against autodiff of
    /// a ⊙ σ(b) (the reference composite, in tensor ops).
    #[test]
    fn glu_and_gradient_equal_autodiff_of_the_formula() {
        let device = Default::default();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(4);
        let x =
            crate::random::normal::<AD, 3>(&mut rng, [3, 7, 34], 0.0, 3.0, &device).require_grad();
        let g = crate::random::normal::<AD, 3>(&mut rng, [3, 7, 17], 0.0, 1.0, &device);
        let ours = glu(x.clone()).unwrap();
        assert_eq!(ours.dims(), [3, 7, 17]);
        let reference: Tensor<AD, 3> = tensor(glu_composite::<AD>(float(x.clone())));
        let host = |t: &Tensor<AD, 3>| HostTensor::from_tensor(t).data;
        assert!(max_rel_err(&host(&ours), &host(&reference)) < 1e-7);
        let g1 = (ours * g.clone()).sum().backward();
        let g2 = (reference * g).sum().backward();
        let grad = |grads| HostTensor::from_tensor(&x.grad(grads).expect("tracked")).data;
        let err = max_rel_err(&grad(&g1), &grad(&g2));
        assert!(err < 1e-6, "{err:.2e}");
    }

    /// The fused CPU kernel against the composites, f32 and f64, on rows
    /// long enough to span several parallel chunks.
    #[test]
    fn the_fused_cpu_kernel_equals_the_composite() {
        let device = Default::default();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(9);
        let x = crate::random::normal::<Flex, 2>(&mut rng, [300, 256], 0.0, 3.0, &device);
        let g = crate::random::normal::<Flex, 2>(&mut rng, [300, 128], 0.0, 1.0, &device);
        for (x, g, tol) in [
            (x.clone(), g.clone(), 1e-6),
            (
                x.cast(burn::tensor::DType::F64),
                g.cast(burn::tensor::DType::F64),
                1e-14,
            ),
        ] {
            let values = |t: burn::tensor::ops::FloatTensor<Flex>| -> Vec<f64> {
                let data: TensorData = tensor::<Flex, 2>(t).into_data();
                data.convert::<f64>().to_vec().unwrap()
            };
            let err = max_rel_err(
                &values(Flex::glu(float(x.clone()))),
                &values(glu_composite::<Flex>(float(x.clone()))),
            );
            assert!(err < tol, "forward {err:.2e}");
            let err = max_rel_err(
                &values(Flex::glu_backward(float(x.clone()), float(g.clone()))),
                &values(glu_backward_composite::<Flex>(float(x), float(g))),
            );
            assert!(err < tol, "backward {err:.2e}");
        }
    }

    /// An odd or empty last axis is refused, naming x.
    #[test]
    fn an_odd_last_axis_is_refused() {
        let device = Default::default();
        let x = Tensor::<Flex, 2>::zeros([2, 5], &device);
        let err = glu(x).unwrap_err().to_string();
        assert!(err.contains("glu: x"), "{err}");
        let x = Tensor::<Flex, 2>::zeros([2, 0], &device);
        assert!(glu(x).is_err());
    }
}
