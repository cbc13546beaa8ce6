//! S4's DPLR generating function at the bilinear nodes, as one backend op
//! with its own backward: for each channel h and node s_k,
//!
//!   K̂_c(s) = k_{B,C_c} − Σ_{j,i} k_{P_j,C_c} (M⁻¹)_{ji} k_{B,Q_i},
//!   M_{ij} = δ_ij + k_{P_j,Q_i},   k_{a,b}(s) = Δ Σ_m a_m b_m / (s − Δλ_m),
//!
//! with rows a ∈ {B, P_1..P_r}, columns b ∈ {C̃_1..C̃_Cc, Q_1..Q_r}, Q = P̄,
//! and the sums over the 2N conjugate-expanded modes (only one of each pair
//! is stored). This is the Woodbury form of C̃(s − ΔA)⁻¹ΔB for
//! A = diag(λ) − PPᴴ (the bilinear factor, the Nyquist node and the inverse
//! FFT stay with the caller, S4's DPLR kernel in `kernel::dplr`).
//!
//! Why one op: with α = M⁻ᵀ-weighted k_{B,Q} and β the k_{P,C}-weighted M⁻¹,
//! every gradient factorises per mode as (B_m − Σ_j α_j P_jm)·(C_m −
//! Σ_i β_i Q_im) (see `cpu.rs`). Composed from separate Cauchy sums, the
//! same gradient is a difference of terms |ΔBP/(s − Δλ)|² larger than the
//! result, which for a mode next to a node (HiPPO-FouT keeps one at
//! λ ≈ −10⁻⁴ − 10⁻⁴i, beside s = 0) costs eight digits: the composite's f64
//! `A_imag` gradient was 8e-9 off a 40-digit evaluation, this op's is
//! ≤ 1e-12 (`tests/suite/dplr_spectrum_fused.rs`).
//!
//! Files: [`mod@reference`] (the composite of Cauchy products, the op's test
//! oracle), `cpu.rs` (fused host kernel), `kernels.rs` and `cube.rs` (GPU:
//! CubeCL kernels in f64 and their launches), `autodiff.rs`.

mod autodiff;
mod cpu;
#[cfg(feature = "cuda")]
mod cube;
#[cfg(feature = "cuda")]
mod kernels;
pub mod reference;

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Tensor};
use num_complex::Complex64;

use crate::complex::ComplexTensor;
use crate::error::{Error, Result};
use crate::ops::support::check::{self, arg};
use crate::ops::support::primitive::{float, tensor};

/// The op's inputs as real tensors: Δ (H), λ (H, N), B (H, N), P (r, H, N),
/// C̃ (Cc, H, N), complex ones as (re, im) parts.
#[derive(Debug, Clone)]
pub struct DplrSpectrumInputs<T> {
    /// Δ, (H).
    pub dt: T,
    /// Re λ, (H, N).
    pub lambda_re: T,
    /// Im λ, (H, N).
    pub lambda_im: T,
    /// Re B, (H, N).
    pub b_re: T,
    /// Im B, (H, N).
    pub b_im: T,
    /// Re P, (r, H, N).
    pub p_re: T,
    /// Im P, (r, H, N).
    pub p_im: T,
    /// Re C̃, (Cc, H, N).
    pub c_re: T,
    /// Im C̃, (Cc, H, N).
    pub c_im: T,
}

impl<T> DplrSpectrumInputs<T> {
    /// The nine tensors, each through `f`, in declaration order.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> DplrSpectrumInputs<U> {
        DplrSpectrumInputs {
            dt: f(self.dt),
            lambda_re: f(self.lambda_re),
            lambda_im: f(self.lambda_im),
            b_re: f(self.b_re),
            b_im: f(self.b_im),
            p_re: f(self.p_re),
            p_im: f(self.p_im),
            c_re: f(self.c_re),
            c_im: f(self.c_im),
        }
    }

    /// The nine tensors in declaration order.
    pub fn into_array(self) -> [T; 9] {
        [
            self.dt,
            self.lambda_re,
            self.lambda_im,
            self.b_re,
            self.b_im,
            self.p_re,
            self.p_im,
            self.c_re,
            self.c_im,
        ]
    }
}

/// Backends that evaluate the DPLR generating function.
pub trait DplrSpectrumOps: Backend {
    /// K̂ at `nodes` as (2, H, Cc, S): real parts, then imaginary parts.
    /// Inputs are validated by [`dplr_spectrum`].
    fn dplr_spectrum(
        inputs: DplrSpectrumInputs<FloatTensor<Self>>,
        nodes: &[Complex64],
    ) -> FloatTensor<Self>;

    /// The gradients of the nine inputs from ∂L/∂K̂ (2, H, Cc, S).
    fn dplr_spectrum_backward(
        inputs: DplrSpectrumInputs<FloatTensor<Self>>,
        nodes: &[Complex64],
        grad: FloatTensor<Self>,
    ) -> DplrSpectrumInputs<FloatTensor<Self>>;
}

/// The generating function K̂ (H, Cc, S) of H DPLR systems at `nodes`:
/// Δ (H), λ (H, N), B (H, N), P (r, H, N) with r ∈ {1, 2}, C̃ (Cc, H, N),
/// all f32 or all f64 on one device. Differentiable in every input.
/// Fails, naming the argument, on a shape, rank, dtype or device mismatch.
pub fn dplr_spectrum<B: DplrSpectrumOps>(
    dt: &Tensor<B, 1>,
    lambda: &ComplexTensor<B, 2>,
    b: &ComplexTensor<B, 2>,
    p: &ComplexTensor<B, 3>,
    c: &ComplexTensor<B, 3>,
    nodes: &[Complex64],
) -> Result<ComplexTensor<B, 3>> {
    const OP: &str = "dplr_spectrum";
    let [h] = dt.dims();
    let n = lambda.dims()[1];
    let (rank, channels) = (p.dims()[0], c.dims()[0]);
    let shapes = [
        ("lambda (H, N)", vec![h, n], lambda.re.dims().to_vec()),
        ("lambda.im", vec![h, n], lambda.im.dims().to_vec()),
        ("B (H, N)", vec![h, n], b.re.dims().to_vec()),
        ("B.im", vec![h, n], b.im.dims().to_vec()),
        ("P (rank, H, N)", vec![rank, h, n], p.re.dims().to_vec()),
        ("P.im", vec![rank, h, n], p.im.dims().to_vec()),
        (
            "C (channels, H, N)",
            vec![channels, h, n],
            c.re.dims().to_vec(),
        ),
        ("C.im", vec![channels, h, n], c.im.dims().to_vec()),
    ];
    for (name, expected, actual) in &shapes {
        check::shape(OP, name, expected, actual)?;
    }
    if !(1..=2).contains(&rank) {
        return Err(Error::config(
            "dplr_spectrum: rank",
            format!("the DPLR spectrum takes rank 1 or 2, got {rank}"),
        ));
    }
    let dtype = dt.dtype();
    if !matches!(dtype, DType::F32 | DType::F64) {
        return Err(Error::Dtype {
            name: "dt".into(),
            source_name: "dplr_spectrum (f32 or f64)".into(),
            dtype: format!("{dtype:?}"),
        });
    }
    check::floats_on_one_device(
        OP,
        &[
            arg("dt", dt),
            arg("lambda.re", &lambda.re),
            arg("lambda.im", &lambda.im),
            arg("B.re", &b.re),
            arg("B.im", &b.im),
            arg("P.re", &p.re),
            arg("P.im", &p.im),
            arg("C.re", &c.re),
            arg("C.im", &c.im),
        ],
    )?;
    let inputs = DplrSpectrumInputs {
        dt: float(dt.clone()),
        lambda_re: float(lambda.re.clone()),
        lambda_im: float(lambda.im.clone()),
        b_re: float(b.re.clone()),
        b_im: float(b.im.clone()),
        p_re: float(p.re.clone()),
        p_im: float(p.im.clone()),
        c_re: float(c.re.clone()),
        c_im: float(c.im.clone()),
    };
    let y: Tensor<B, 4> = tensor(B::dplr_spectrum(inputs, nodes));
    let part = |i: usize| y.clone().narrow(0, i, 1).squeeze_dim::<3>(0);
    Ok(ComplexTensor::new(part(0), part(1)))
}
