//! The Cauchy product of S4's DPLR kernels as a backend extension with
//! fused kernels (CPU, and CubeCL on the GPU) and its own backward:
//!
//!   y[h, r, k] = Σₙ v[h, r, n] / (s_k − z[h, n]),
//!
//! for poles z (H, N), numerators v (H, R, N) and constant nodes s (S).
//! With w = 1/(s − z) and g = ∂L/∂y (conjugate-Wirtinger: ∂L/∂re + i·∂L/∂im),
//! ∂v[h, r, n] = Σ_k g·conj(w) and ∂z[h, n] = Σ_{r, k} g·conj(v·w²). The
//! composite ([`cauchy_composite`]) materialises w (H, N, S) and multiplies.

mod autodiff;
mod composite;
#[cfg(feature = "cuda")]
mod cube;
mod flex;
#[cfg(feature = "cuda")]
mod kernels;

use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorMetadata};
use num_complex::Complex64;

pub use composite::cauchy_composite;

use crate::complex::ComplexTensor;
use crate::ops::primitive::{float, tensor};

/// The four real inputs of the product: v (H, R, N) and z (H, N) as parts.
#[derive(Debug, Clone)]
pub struct CauchyInputs<T> {
    /// Re v, (H, R, N).
    pub v_re: T,
    /// Im v, (H, R, N).
    pub v_im: T,
    /// Re z, (H, N).
    pub z_re: T,
    /// Im z, (H, N).
    pub z_im: T,
}

impl<T> CauchyInputs<T> {
    /// Panics, naming the shapes, unless v is (H, R, N) and z (H, N) in both
    /// parts (`shape` reads a tensor's shape): the kernels index by these
    /// shapes unchecked.
    pub fn assert_shapes(&self, shape: impl Fn(&T) -> Vec<usize>) {
        let (v, v_im) = (shape(&self.v_re), shape(&self.v_im));
        let (z, z_im) = (shape(&self.z_re), shape(&self.z_im));
        assert!(
            v.len() == 3 && z.len() == 2 && v_im == v && z_im == z && [v[0], v[2]] == z[..],
            "cauchy: v must be (H, R, N) and z (H, N), in both parts; \
             got v {v:?} / {v_im:?}, z {z:?} / {z_im:?}"
        );
    }

    /// The four tensors, each through `f`, in the order v_re, v_im, z_re,
    /// z_im.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> CauchyInputs<U> {
        CauchyInputs {
            v_re: f(self.v_re),
            v_im: f(self.v_im),
            z_re: f(self.z_re),
            z_im: f(self.z_im),
        }
    }
}

/// Backends that compute the Cauchy product.
pub trait CauchyOps: crate::ops::MatmulOps {
    /// y at `nodes` as (2, H, R, S): real parts, then imaginary parts.
    fn cauchy(inputs: CauchyInputs<FloatTensor<Self>>, nodes: &[Complex64]) -> FloatTensor<Self>;

    /// Gradients of the four inputs from ∂L/∂y (2, H, R, S).
    fn cauchy_backward(
        inputs: CauchyInputs<FloatTensor<Self>>,
        nodes: &[Complex64],
        grad: FloatTensor<Self>,
    ) -> CauchyInputs<FloatTensor<Self>>;
}

/// y[h, r, k] = Σₙ v[h, r, n] / (nodes[k] − z[h, n]): v (H, R, N), z (H, N)
/// → (H, R, S). Differentiable in v and z.
pub fn cauchy<B: CauchyOps>(
    v: &ComplexTensor<B, 3>,
    z: &ComplexTensor<B, 2>,
    nodes: &[Complex64],
) -> ComplexTensor<B, 3> {
    let inputs = CauchyInputs {
        v_re: float(v.re.clone()),
        v_im: float(v.im.clone()),
        z_re: float(z.re.clone()),
        z_im: float(z.im.clone()),
    };
    inputs.assert_shapes(|t| t.shape().to_vec());
    let y: Tensor<B, 4> = tensor(B::cauchy(inputs, nodes));
    let part = |i: usize| y.clone().narrow(0, i, 1).squeeze_dim::<3>(0);
    ComplexTensor::new(part(0), part(1))
}
