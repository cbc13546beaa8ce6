//! Chimera's 2-D selective scan over a grid of time × variates, in the
//! Roesser form: per batch b, channel e and state n, two states per cell
//! (v, t), h¹ carried along time and h² along variates,
//!
//!   h¹\[v,t\] = Ā₁ h¹[v,t−1] + φ₁ (A₂ h²[v,t−1] + B₁\[v,t\] u\[v,t\])
//!   h²\[v,t\] = Ā₄ h²[v−1,t] + φ₂ (A₃ h¹[v−1,t] + B₂\[v,t\] u\[v,t\])
//!   y\[v,t\]  = Σₙ (C₁\[v,t\] h¹\[v,t\] + C₂\[v,t\] h²\[v,t\])
//!
//! with the cell's own zero-order-hold coefficients Ā₁ = exp(Δ₁A₁),
//! φ₁ = (Ā₁ − 1)/A₁, Ā₄ = exp(Δ₂A₄), φ₂ = (Ā₄ − 1)/A₄ (Δ₁, Δ₂ per cell and
//! channel; A₁ … A₄ per channel and state) and states zero outside the grid.
//! Shapes: A₁, A₂, A₃, A₄ (1, 1, E, N); Δ₁, Δ₂, u (B, T, V, E); B₁, B₂, C₁, C₂
//! (B, T, V, N) shared by the channels; y (B, T, V, E).
//!
//! The backward runs the adjoint recurrence from the last cell,
//!
//!   g¹\[v,t\] = C₁ ∂y\[v,t\] + Ā₁[v,t+1] g¹[v,t+1] + φ₂[v+1,t] A₃ g²[v+1,t]
//!   g²\[v,t\] = C₂ ∂y\[v,t\] + φ₁[v,t+1] A₂ g¹[v,t+1] + Ā₄[v+1,t] g²[v+1,t]
//!
//! (g¹, g² zero outside the grid) and reads every input's gradient off
//! g¹, g² and the recomputed states, e.g. ∂A₂ = Σ g¹ φ₁ h²[v,t−1],
//! ∂Δ₁ = Σₙ (g¹ h¹[v,t−1] A₁ + g¹ (A₂ h²[v,t−1] + B₁u)) Ā₁,
//! ∂u = Σₙ g¹ φ₁ B₁ + g² φ₂ B₂, ∂C₁ = Σₑ ∂y h¹ (the rest alike). The reference composite walks the anti-diagonals t + v of
//! the grid in tensor ops (each step elementwise); the CPU runs one fused
//! loop per (b, e, n), the CubeCL kernels one unit per (b, e, n).

mod autodiff;
mod cpu;
#[cfg(feature = "cuda")]
mod cube;
#[cfg(feature = "cuda")]
mod kernels;
mod reference;
mod zoh;

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;

use crate::error::Result;
use crate::ops::support::check::{self, arg};
use crate::ops::support::primitive::{float, tensor};

pub use reference::{scan2d_backward_composite, scan2d_composite};

const OP: &str = "scan2d";

/// The inputs of the 2-D scan, or their gradients (the same shapes), as
/// one value per field.
#[derive(Debug, Clone)]
pub struct Scan2dInputs<T> {
    /// A₁, the time state's decay, (1, 1, E, N): ≠ 0, unchecked (the
    /// layer's is < 0).
    pub a1: T,
    /// A₂, the variate state's pull on the time state, (1, 1, E, N).
    pub a2: T,
    /// A₃, the time state's pull on the variate state, (1, 1, E, N).
    pub a3: T,
    /// A₄, the variate state's decay, (1, 1, E, N): ≠ 0, unchecked (the
    /// layer's is < 0).
    pub a4: T,
    /// Δ₁, the step along time, (B, T, V, E).
    pub dt1: T,
    /// Δ₂, the step along variates, (B, T, V, E).
    pub dt2: T,
    /// u, the input, (B, T, V, E).
    pub u: T,
    /// B₁, (B, T, V, N).
    pub b1: T,
    /// B₂, (B, T, V, N).
    pub b2: T,
    /// C₁, (B, T, V, N).
    pub c1: T,
    /// C₂, (B, T, V, N).
    pub c2: T,
}

impl<T> Scan2dInputs<T> {
    /// The fields' names in declaration order (the order of
    /// [`Self::into_array`]).
    pub const NAMES: [&'static str; 11] = [
        "a1", "a2", "a3", "a4", "dt1", "dt2", "u", "b1", "b2", "c1", "c2",
    ];

    /// The fields in declaration order.
    pub fn into_array(self) -> [T; 11] {
        [
            self.a1, self.a2, self.a3, self.a4, self.dt1, self.dt2, self.u, self.b1, self.b2,
            self.c1, self.c2,
        ]
    }

    /// From the fields in declaration order.
    pub fn from_array([a1, a2, a3, a4, dt1, dt2, u, b1, b2, c1, c2]: [T; 11]) -> Self {
        Self {
            a1,
            a2,
            a3,
            a4,
            dt1,
            dt2,
            u,
            b1,
            b2,
            c1,
            c2,
        }
    }

    /// References to the fields.
    pub fn as_ref(&self) -> Scan2dInputs<&T> {
        Scan2dInputs {
            a1: &self.a1,
            a2: &self.a2,
            a3: &self.a3,
            a4: &self.a4,
            dt1: &self.dt1,
            dt2: &self.dt2,
            u: &self.u,
            b1: &self.b1,
            b2: &self.b2,
            c1: &self.c1,
            c2: &self.c2,
        }
    }

    /// `f` applied to every field.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Scan2dInputs<U> {
        Scan2dInputs::from_array(self.into_array().map(f))
    }
}

/// The 2-D scan's inputs as tensors, for the checked entry [`scan2d`].
pub type Scan2d<B> = Scan2dInputs<Tensor<B, 4>>;

/// Backends that run the 2-D scan; the defaults are the composites.
pub trait Scan2dOps: Backend {
    /// y (B, T, V, E).
    fn scan2d(x: Scan2dInputs<FloatTensor<Self>>) -> FloatTensor<Self> {
        scan2d_composite::<Self>(x)
    }

    /// Every input's gradient from ∂ℓ/∂y (`grad`, (B, T, V, E)).
    fn scan2d_backward(
        x: Scan2dInputs<FloatTensor<Self>>,
        grad: FloatTensor<Self>,
    ) -> Scan2dInputs<FloatTensor<Self>> {
        scan2d_backward_composite::<Self>(x, grad)
    }
}

/// y (B, T, V, E) of the 2-D scan (the parameters A₁ … A₄ come as
/// (1, 1, E, N), so that every input is a rank-4 tensor). Differentiable.
///
/// Fails, naming the argument, unless the shapes are as
/// [`Scan2dInputs`] states with every axis at least 1, and all are of one
/// float dtype on one device.
pub fn scan2d<B: Scan2dOps>(x: Scan2d<B>) -> Result<Tensor<B, 4>> {
    let [batch, time, variates, channels] = x.u.dims();
    let states = x.a1.dims()[3];
    let tensors = x.into_array();
    let args: Vec<_> = Scan2d::<B>::NAMES
        .iter()
        .zip(&tensors)
        .map(|(name, t)| arg(name, t))
        .collect();
    check::floats_on_one_device(OP, &args)?;
    for axis in 0..4 {
        check::min_axis(OP, "u (B, T, V, E), each ≥ 1", &tensors[6].dims(), axis, 1)?;
    }
    check::min_axis(OP, "a1 (1, 1, E, N ≥ 1)", &tensors[0].dims(), 3, 1)?;
    let parameter = [1, 1, channels, states];
    let step = [batch, time, variates, channels];
    let projection = [batch, time, variates, states];
    let expected = [
        ("a1 (1, 1, E, N)", parameter),
        ("a2 (1, 1, E, N)", parameter),
        ("a3 (1, 1, E, N)", parameter),
        ("a4 (1, 1, E, N)", parameter),
        ("dt1 (B, T, V, E)", step),
        ("dt2 (B, T, V, E)", step),
        ("u (B, T, V, E)", step),
        ("b1 (B, T, V, N)", projection),
        ("b2 (B, T, V, N)", projection),
        ("c1 (B, T, V, N)", projection),
        ("c2 (B, T, V, N)", projection),
    ];
    for ((name, shape), t) in expected.iter().zip(&tensors) {
        check::shape(OP, name, shape, &t.dims())?;
    }
    Ok(tensor(B::scan2d(
        Scan2dInputs::from_array(tensors).map(float),
    )))
}

#[cfg(test)]
mod tests;
