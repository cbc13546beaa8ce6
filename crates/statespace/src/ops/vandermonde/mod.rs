//! The Vandermonde product of diagonal SSM kernels as a backend extension
//! with fused kernels (CPU, and CubeCL on the GPU) and its own backward:
//!
//!   K[c, h, l] = 2·Re Σₙ coef[c, h, n] · exp(l · w[h, n]),   l < L,
//!
//! with w = log Ā (complex) and coef = C·B̄ (complex). With E = exp(l·w) and
//! g = ∂L/∂K, the gradients are ∂/∂coef_re = 2Σ_l g·E_re,
//! ∂/∂coef_im = −2Σ_l g·E_im, ∂/∂w_re = 2Σ_{c,l} g·l·(coef_re E_re − coef_im E_im),
//! ∂/∂w_im = −2Σ_{c,l} g·l·(coef_re E_im + coef_im E_re).

mod autodiff;
mod cpu;
#[cfg(feature = "cuda")]
mod cube;
#[cfg(feature = "cuda")]
mod kernels;
mod reference;

use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorMetadata, TensorPrimitive};

pub use reference::vandermonde_composite;

use crate::complex::ComplexTensor;
use crate::error::Result;
use crate::ops::support::check::{self, arg};

const OP: &str = "vandermonde";

/// The four real inputs of the product: w (H, N) and coef (C, H, N) as parts.
#[derive(Debug, Clone)]
pub struct VandermondeInputs<T> {
    /// Re w, (H, N).
    pub w_re: T,
    /// Im w, (H, N).
    pub w_im: T,
    /// Re coef, (C, H, N).
    pub coef_re: T,
    /// Im coef, (C, H, N).
    pub coef_im: T,
}

impl<T> VandermondeInputs<T> {
    /// Fails, naming the part, unless w is (H, N) and coef (C, H, N) in
    /// both parts (`shape` reads a tensor's shape): the kernels index by
    /// these shapes unchecked.
    pub fn check_shapes(&self, shape: impl Fn(&T) -> Vec<usize>) -> Result<()> {
        let (w, coef) = (shape(&self.w_re), shape(&self.coef_re));
        check::rank(OP, "w.re (H, N)", 2, &w)?;
        check::rank(OP, "coef.re (C, H, N)", 3, &coef)?;
        check::shape(OP, "w.im (H, N)", &w, &shape(&self.w_im))?;
        check::shape(OP, "coef.re (C, H, N)", &[coef[0], w[0], w[1]], &coef)?;
        check::shape(OP, "coef.im (C, H, N)", &coef, &shape(&self.coef_im))
    }

    /// The four tensors, each through `f`, in the order w_re, w_im,
    /// coef_re, coef_im.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> VandermondeInputs<U> {
        VandermondeInputs {
            w_re: f(self.w_re),
            w_im: f(self.w_im),
            coef_re: f(self.coef_re),
            coef_im: f(self.coef_im),
        }
    }
}

/// Backends that compute the Vandermonde product.
pub trait VandermondeOps: crate::ops::MatmulOps {
    /// K (C, H, len).
    fn vandermonde(inputs: VandermondeInputs<FloatTensor<Self>>, len: usize) -> FloatTensor<Self>;

    /// Gradients of the four inputs from ∂L/∂K.
    fn vandermonde_backward(
        inputs: VandermondeInputs<FloatTensor<Self>>,
        grad: FloatTensor<Self>,
    ) -> VandermondeInputs<FloatTensor<Self>>;
}

/// K[c, h, l] = 2·Re Σₙ coef[c, h, n] · exp(l · w[h, n]) for l < `len`:
/// w (H, N), coef (C, H, N) → (C, H, len). Differentiable.
///
/// Fails, naming the part, unless the shapes are these and all four parts
/// are of one float dtype on one device.
pub fn vandermonde<B: VandermondeOps>(
    w: &ComplexTensor<B, 2>,
    coef: &ComplexTensor<B, 3>,
    len: usize,
) -> Result<Tensor<B, 3>> {
    check::floats_on_one_device(
        OP,
        &[
            arg("w.re", &w.re),
            arg("w.im", &w.im),
            arg("coef.re", &coef.re),
            arg("coef.im", &coef.im),
        ],
    )?;
    let p2 = |t: &Tensor<B, 2>| t.clone().into_primitive().tensor();
    let p3 = |t: &Tensor<B, 3>| t.clone().into_primitive().tensor();
    let inputs = VandermondeInputs {
        w_re: p2(&w.re),
        w_im: p2(&w.im),
        coef_re: p3(&coef.re),
        coef_im: p3(&coef.im),
    };
    inputs.check_shapes(|t| t.shape().to_vec())?;
    Ok(Tensor::from_primitive(TensorPrimitive::Float(
        B::vandermonde(inputs, len),
    )))
}
