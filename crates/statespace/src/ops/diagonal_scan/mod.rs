//! The diagonal linear recurrence of S5, a complex state per lane run along
//! the sequence axis (what S5 computes with `jax.lax.associative_scan`):
//!
//! - forward: x[b, t] = λ ⊙ x[b, t−1] + u[b, t], with x[b, −1] = x0\[b\];
//! - reverse: x[b, t] = λ ⊙ x[b, t+1] + u[b, t], with x[b, L] = x0\[b\].
//!
//! Complex values are stored split along the last axis: a row of 2F reals
//! holds the F real parts, then the F imaginary parts (λ (2F), u and x
//! (B, L, 2F), x0 (B, 2F)), so that S5's input and output maps are one
//! real matrix product each.
//!
//! With G(z) = ∂ℓ/∂Re z + i·∂ℓ/∂Im z (what the split storage's gradient
//! holds), the backward is the other direction's scan with conj(λ):
//! h\[t\] = G(x\[t\]) + conj(λ)·h[t+1] (forward), G(u\[t\]) = h\[t\],
//! G(x0) = conj(λ)·h[first step], G(λ) = Σ_{b,t} conj(x[b, t−1])·h[b, t]
//! (x[b, −1] = x0\[b\]). On CubeCL devices a scan is three launches (chunk
//! totals, carries, chunk scans: `ops::support::chunk_plan`).

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
use crate::ops::support::check::{self, arg};
use crate::ops::support::primitive::{float, tensor};

pub use reference::{diagonal_scan_backward_composite, diagonal_scan_composite};

const OP: &str = "diagonal_scan";

/// The gradients of a diagonal scan's three inputs, split-complex like them.
#[derive(Debug, Clone)]
pub struct DiagonalScanGrads<T> {
    /// G(λ), (2F).
    pub lambda: T,
    /// G(u), (B, L, 2F).
    pub u: T,
    /// G(x0), (B, 2F).
    pub x0: T,
}

/// Backends that run the diagonal scan; the defaults are the composites.
pub trait DiagonalScanOps: Backend {
    /// x (B, L, 2F) from λ (2F), u (B, L, 2F), x0 (B, 2F), from the start
    /// or (`reverse`) from the end.
    fn diagonal_scan(
        lambda: FloatTensor<Self>,
        u: FloatTensor<Self>,
        x0: FloatTensor<Self>,
        reverse: bool,
    ) -> FloatTensor<Self> {
        diagonal_scan_composite::<Self>(lambda, u, x0, reverse)
    }

    /// The gradients from ∂ℓ/∂x (`grad`), given the inputs and the output x.
    fn diagonal_scan_backward(
        lambda: FloatTensor<Self>,
        x0: FloatTensor<Self>,
        x: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        reverse: bool,
    ) -> DiagonalScanGrads<FloatTensor<Self>> {
        diagonal_scan_backward_composite::<Self>(lambda, x0, x, grad, reverse)
    }
}

/// The states x (B, L, 2F) of x\[t\] = λ ⊙ x[t∓1] + u\[t\] from `x0`
/// (B, 2F), or from zero when `x0` is `None`; from the end when `reverse`.
/// Complex values split: real parts, then imaginary parts along the last
/// axis. Differentiable.
///
/// Fails, naming the argument, unless λ is (2F), u (B, L, 2F) and x0
/// (B, 2F) with an even last axis, all of one float dtype on one device.
pub fn diagonal_scan<B: DiagonalScanOps>(
    lambda: Tensor<B, 1>,
    u: Tensor<B, 3>,
    x0: Option<Tensor<B, 2>>,
    reverse: bool,
) -> Result<Tensor<B, 3>> {
    let [batch, len, width] = u.dims();
    let x0 = x0.unwrap_or_else(|| Tensor::zeros([batch, width], (&u.device(), u.dtype())));
    check::floats_on_one_device(OP, &[arg("u", &u), arg("lambda", &lambda), arg("x0", &x0)])?;
    check::shape(OP, "lambda (2F)", &[width], &lambda.dims())?;
    check::shape(OP, "x0 (B, 2F)", &[batch, width], &x0.dims())?;
    if width % 2 != 0 {
        let even = [batch, len, width + 1];
        return Err(crate::error::Error::shape(
            format!("{OP}: u (B, L, 2F), real then imaginary parts"),
            &even,
            &[batch, len, width],
        ));
    }
    Ok(tensor(B::diagonal_scan(
        float(lambda),
        float(u),
        float(x0),
        reverse,
    )))
}

#[cfg(test)]
mod tests {
    use burn::backend::Autodiff;
    use burn::tensor::{DType, Tensor};
    use burn_flex::Flex;
    use num_complex::Complex64;

    use super::{diagonal_scan, diagonal_scan_composite};
    use crate::io::HostTensor;
    use crate::ops::support::primitive::{float, tensor};

    type AD = Autodiff<Flex>;

    fn host<B: burn::tensor::backend::Backend, const D: usize>(t: &Tensor<B, D>) -> Vec<f64> {
        HostTensor::from_tensor(t).data
    }

    /// The recurrence written out in complex numbers, both directions,
    /// with an initial state.
    #[test]
    fn states_by_hand() {
        let device = Default::default();
        let (lambda, u, x0) = (
            Complex64::new(0.5, 0.25),
            [
                Complex64::new(1.0, -1.0),
                Complex64::new(2.0, 0.5),
                Complex64::new(-1.0, 3.0),
            ],
            Complex64::new(0.75, 0.125),
        );
        let split = |z: &[Complex64]| {
            let mut v: Vec<f64> = z.iter().map(|z| z.re).collect();
            v.extend(z.iter().map(|z| z.im));
            v
        };
        let l = Tensor::<AD, 1>::from_floats(split(&[lambda]).as_slice(), &device);
        let rows: Vec<f64> = u.iter().flat_map(|z| split(&[*z])).collect();
        let u_t = Tensor::<AD, 1>::from_floats(rows.as_slice(), &device).reshape([1, 3, 2]);
        let x0_t = Tensor::<AD, 1>::from_floats(split(&[x0]).as_slice(), &device).reshape([1, 2]);
        for reverse in [false, true] {
            let mut x = x0;
            let mut expected = [Complex64::default(); 3];
            for k in 0..3 {
                let t = if reverse { 2 - k } else { k };
                x = lambda * x + u[t];
                expected[t] = x;
            }
            let expected: Vec<f64> = expected.iter().flat_map(|z| split(&[*z])).collect();
            let ours = diagonal_scan(l.clone(), u_t.clone(), Some(x0_t.clone()), reverse).unwrap();
            let composite: Tensor<AD, 3> = tensor(diagonal_scan_composite::<AD>(
                float(l.clone()),
                float(u_t.clone()),
                float(x0_t.clone()),
                reverse,
            ));
            for (name, got) in [("fused", host(&ours)), ("composite", host(&composite))] {
                for (a, b) in got.iter().zip(&expected) {
                    assert!((a - b).abs() < 1e-14, "{name} reverse={reverse}: {got:?}");
                }
            }
        }
    }

    /// The fused CPU scan's backward against autodiff of the composite
    /// (tensor ops) in f64, every input, both directions, an odd length.
    #[test]
    fn gradients_equal_autodiff_of_the_composite() {
        let device = Default::default();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(7);
        let normal = |rng: &mut _, shape: [usize; 3]| {
            crate::random::normal::<AD, 3>(rng, shape, 0.0, 1.0, &device).cast(DType::F64)
        };
        let uniform = |rng: &mut _, low, high| {
            crate::random::uniform::<AD, 1>(rng, [3], low, high, &device).cast(DType::F64)
        };
        let (radius, angle) = (uniform(&mut rng, 0.5, 0.99), uniform(&mut rng, -3.0, 3.0));
        let lambda = Tensor::cat(
            vec![radius.clone() * angle.clone().cos(), radius * angle.sin()],
            0,
        )
        .require_grad();
        let u = normal(&mut rng, [2, 37, 6]).require_grad();
        let x0 = normal(&mut rng, [1, 2, 6]).reshape([2, 6]).require_grad();
        let g = normal(&mut rng, [2, 37, 6]);
        for reverse in [false, true] {
            let ours = diagonal_scan(lambda.clone(), u.clone(), Some(x0.clone()), reverse).unwrap();
            let reference: Tensor<AD, 3> = tensor(diagonal_scan_composite::<AD>(
                float(lambda.clone()),
                float(u.clone()),
                float(x0.clone()),
                reverse,
            ));
            let close = |a: Vec<f64>, b: Vec<f64>, what: &str| {
                let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
                let err = a
                    .iter()
                    .zip(&b)
                    .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
                assert!(err <= 1e-12 * scale, "{what} reverse={reverse}: {err:.2e}");
            };
            close(host(&ours), host(&reference), "x");
            let g1 = (ours * g.clone()).sum().backward();
            let g2 = (reference * g.clone()).sum().backward();
            close(
                host(&lambda.grad(&g1).unwrap()),
                host(&lambda.grad(&g2).unwrap()),
                "λ",
            );
            close(
                host(&u.grad(&g1).unwrap()),
                host(&u.grad(&g2).unwrap()),
                "u",
            );
            close(
                host(&x0.grad(&g1).unwrap()),
                host(&x0.grad(&g2).unwrap()),
                "x0",
            );
        }
    }

    /// Shapes that cannot be a split-complex scan are refused, naming the
    /// argument.
    #[test]
    fn refuses_bad_shapes() {
        let device = Default::default();
        let u = Tensor::<AD, 3>::zeros([2, 5, 6], &device);
        let err = diagonal_scan(Tensor::zeros([4], &device), u.clone(), None, false).unwrap_err();
        assert!(err.to_string().contains("lambda"), "{err}");
        let x0 = Tensor::<AD, 2>::zeros([3, 6], &device);
        let err = diagonal_scan(Tensor::zeros([6], &device), u, Some(x0), false).unwrap_err();
        assert!(err.to_string().contains("x0"), "{err}");
        let odd = Tensor::<AD, 3>::zeros([2, 5, 5], &device);
        let err = diagonal_scan(Tensor::zeros([5], &device), odd, None, false).unwrap_err();
        assert!(err.to_string().contains("imaginary"), "{err}");
    }
}
