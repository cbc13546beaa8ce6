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
mod cpu;
#[cfg(feature = "cuda")]
mod cube;
#[cfg(feature = "cuda")]
mod kernels;
mod reference;

use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorMetadata};
use num_complex::Complex64;

pub use reference::cauchy_composite;

use crate::complex::ComplexTensor;
use crate::error::Result;
use crate::ops::support::check::{self, arg};
use crate::ops::support::primitive::{float, tensor};

const OP: &str = "cauchy";

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
    /// Fails, naming the part, unless v is (H, R, N) and z (H, N) in both
    /// parts (`shape` reads a tensor's shape): the kernels index by these
    /// shapes unchecked.
    pub fn check_shapes(&self, shape: impl Fn(&T) -> Vec<usize>) -> Result<()> {
        let (v, z) = (shape(&self.v_re), shape(&self.z_re));
        check::rank(OP, "v.re (H, R, N)", 3, &v)?;
        check::rank(OP, "z.re (H, N)", 2, &z)?;
        check::shape(OP, "v.im (H, R, N)", &v, &shape(&self.v_im))?;
        check::shape(OP, "z.re (H, N)", &[v[0], v[2]], &z)?;
        check::shape(OP, "z.im (H, N)", &z, &shape(&self.z_im))
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

/// y[h, r, k] = Σₙ v[h, r, n] / (nodes\[k\] − z[h, n]): v (H, R, N), z (H, N)
/// → (H, R, S). Differentiable in v and z.
///
/// Fails, naming the part, unless the shapes are these and all four parts
/// are of one float dtype on one device.
pub fn cauchy<B: CauchyOps>(
    v: &ComplexTensor<B, 3>,
    z: &ComplexTensor<B, 2>,
    nodes: &[Complex64],
) -> Result<ComplexTensor<B, 3>> {
    check::floats_on_one_device(
        OP,
        &[
            arg("v.re", &v.re),
            arg("v.im", &v.im),
            arg("z.re", &z.re),
            arg("z.im", &z.im),
        ],
    )?;
    let inputs = CauchyInputs {
        v_re: float(v.re.clone()),
        v_im: float(v.im.clone()),
        z_re: float(z.re.clone()),
        z_im: float(z.im.clone()),
    };
    inputs.check_shapes(|t| t.shape().to_vec())?;
    let y: Tensor<B, 4> = tensor(B::cauchy(inputs, nodes));
    let part = |i: usize| y.clone().narrow(0, i, 1).squeeze_dim::<3>(0);
    Ok(ComplexTensor::new(part(0), part(1)))
}
