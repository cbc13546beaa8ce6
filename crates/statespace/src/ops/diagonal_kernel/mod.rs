//! The convolution kernel of a diagonal continuous system (S4D, DSS) as one
//! backend op: discretisation and the Vandermonde product, one pass each
//! way, instead of ≈ 35 tensor ops forward (and twice that backward) on
//! (H, N)-sized tensors, whose launches bound an S4D layer's step on a GPU.
//!
//! For channel h, mode n and output channel c, with z = Δ·A:
//!
//!   ZOH:      w = z,                   p = B·(eᶻ − 1)/A
//!   bilinear: w = log((1 + z/2)/(1 − z/2)), p = B·Δ/(1 − z/2)
//!   K[c, h, l] = 2·Re Σₙ C[c, h, n]·p[h, n]·exp(l·w[h, n]),
//!
//! i.e. [`diagonal_kernel_composite`] (`reference.rs`), whose
//! autodiff gradients the op's backward reproduces (conjugate-Wirtinger
//! convention: the gradient of a complex input is ∂L/∂re + i·∂L/∂im).

mod autodiff;
mod cpu;
#[cfg(feature = "cuda")]
mod cube;
mod discretize;
#[cfg(feature = "cuda")]
mod kernels;
mod reference;

use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorMetadata};

use crate::complex::ComplexTensor;
use crate::discretize::Discretization;
use crate::error::Result;
use crate::ops::support::check::{self, arg};
use crate::ops::support::primitive::{float, tensor};
use crate::ops::vandermonde::VandermondeOps;

pub use reference::{diagonal_kernel_composite, vandermonde_factors};

const OP: &str = "diagonal_kernel";

/// A diagonal system of H channels and N modes: Δ (H), A and B (H, N),
/// C (C, H, N), complex ones as real and imaginary parts.
#[derive(Debug, Clone)]
pub struct DiagonalSystem<T> {
    /// Δ, (H).
    pub dt: T,
    /// Re A, (H, N).
    pub a_re: T,
    /// Im A, (H, N).
    pub a_im: T,
    /// Re B, (H, N).
    pub b_re: T,
    /// Im B, (H, N).
    pub b_im: T,
    /// Re C, (C, H, N).
    pub c_re: T,
    /// Im C, (C, H, N).
    pub c_im: T,
}

impl<T> DiagonalSystem<T> {
    /// The seven tensors, each through `f`, in declaration order.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> DiagonalSystem<U> {
        DiagonalSystem {
            dt: f(self.dt),
            a_re: f(self.a_re),
            a_im: f(self.a_im),
            b_re: f(self.b_re),
            b_im: f(self.b_im),
            c_re: f(self.c_re),
            c_im: f(self.c_im),
        }
    }

    /// Fails, naming the part, unless Δ is (H), A and B (H, N) and C
    /// (C, H, N), in both parts (`shape` reads a tensor's shape): the
    /// kernels index by these shapes unchecked.
    pub fn check_shapes(&self, shape: impl Fn(&T) -> Vec<usize>) -> Result<()> {
        let (dt, a, c) = (shape(&self.dt), shape(&self.a_re), shape(&self.c_re));
        check::rank(OP, "dt (H)", 1, &dt)?;
        check::rank(OP, "A.re (H, N)", 2, &a)?;
        check::rank(OP, "C.re (C, H, N)", 3, &c)?;
        check::shape(OP, "A.re (H, N)", &[dt[0], a[1]], &a)?;
        for (name, t) in [
            ("A.im (H, N)", &self.a_im),
            ("B.re (H, N)", &self.b_re),
            ("B.im (H, N)", &self.b_im),
        ] {
            check::shape(OP, name, &a, &shape(t))?;
        }
        check::shape(OP, "C.re (C, H, N)", &[c[0], a[0], a[1]], &c)?;
        check::shape(OP, "C.im (C, H, N)", &c, &shape(&self.c_im))
    }

    /// The seven tensors in declaration order.
    pub fn into_array(self) -> [T; 7] {
        [
            self.dt, self.a_re, self.a_im, self.b_re, self.b_im, self.c_re, self.c_im,
        ]
    }
}

/// Backends that compute a diagonal system's kernel in one op.
pub trait DiagonalKernelOps: VandermondeOps {
    /// K (C, H, `len`) of `system` sampled by `rule`.
    fn diagonal_kernel(
        system: DiagonalSystem<FloatTensor<Self>>,
        rule: Discretization,
        len: usize,
    ) -> FloatTensor<Self>;

    /// The gradients of the system's seven tensors from ∂L/∂K (C, H, len).
    fn diagonal_kernel_backward(
        system: DiagonalSystem<FloatTensor<Self>>,
        rule: Discretization,
        grad: FloatTensor<Self>,
    ) -> DiagonalSystem<FloatTensor<Self>>;
}

/// The kernel of a diagonal continuous system (Δ, A, B, C) sampled by
/// `rule`: `dt` (H), `a` and `b` (H, N), `c` (C, H, N) → K (C, H, `len`).
/// Differentiable.
///
/// Fails, naming the part, unless the shapes are these and all seven
/// tensors are of one float dtype on one device.
pub fn diagonal_kernel<B: DiagonalKernelOps>(
    dt: &Tensor<B, 1>,
    a: &ComplexTensor<B, 2>,
    b: &ComplexTensor<B, 2>,
    c: &ComplexTensor<B, 3>,
    rule: Discretization,
    len: usize,
) -> Result<Tensor<B, 3>> {
    let system = DiagonalSystem {
        dt: float(dt.clone()),
        a_re: float(a.re.clone()),
        a_im: float(a.im.clone()),
        b_re: float(b.re.clone()),
        b_im: float(b.im.clone()),
        c_re: float(c.re.clone()),
        c_im: float(c.im.clone()),
    };
    system.check_shapes(|t| t.shape().to_vec())?;
    check::floats_on_one_device(
        OP,
        &[
            arg("dt", dt),
            arg("A.re", &a.re),
            arg("A.im", &a.im),
            arg("B.re", &b.re),
            arg("B.im", &b.im),
            arg("C.re", &c.re),
            arg("C.im", &c.im),
        ],
    )?;
    Ok(tensor(B::diagonal_kernel(system, rule, len)))
}
