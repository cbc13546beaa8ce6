//! S4's kernel of a diagonal-plus-low-rank (DPLR) system,
//! A = diag(Λ) − P Pᴴ, discretised by the bilinear rule.
//!
//! Only one of each conjugate pair is stored (Nh = N/2 modes); sums run over
//! the conjugate-expanded 2Nh modes. The output vector is stored as
//! C̃ = C(I − Āᴸ) for an internal length L (`l_kernel`), which turns the
//! truncated generating function Σ_{l<L} K_l zˡ into the resolvent
//! C̃(I − Āz)⁻¹B̄ at the L-th roots of unity z = ω_k. Through
//! ω ↦ s = 2(1 − ω)/(1 + ω) the resolvent becomes a Cauchy kernel
//! Σₙ vₙ/(s − ΔΛₙ) and the low-rank term enters by the Woodbury identity:
//!
//!   K̂(ω) = 2/(1 + ω) · [k₀₀ − k₀₁ (1 + k₁₁)⁻¹ k₁₀],
//!   k_ab(s) = Σ_{n ∈ 2Nh} Δ·aₙbₙ/(s − ΔΛₙ) for a ∈ {B, P}, b ∈ {C̃, Pᴴ}.
//!
//! An inverse real FFT of K̂ at the L roots gives K_0..K_{L−1}.

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor};
use faer::linalg::solvers::Solve;
use faer::{Mat, c64};
use num_complex::Complex64;

use crate::complex::ComplexTensor;
use crate::error::{Error, Result};
use crate::io::tensor_from_f64;
use crate::ops::{DplrSpectrumOps, SpectralOps, dplr_spectrum, irfft};

/// Parameters of a DPLR kernel over H channels (already transformed:
/// Δ = exp(inv_dt), Λ = −exp(A_real) − i·A_imag).
#[derive(Debug, Clone)]
pub struct DplrKernelParams<B: Backend> {
    /// Step sizes Δ, (H).
    pub dt: Tensor<B, 1>,
    /// Diagonal Λ (continuous time), (H, Nh).
    pub lambda: ComplexTensor<B, 2>,
    /// Input vector B, (H, Nh).
    pub b: ComplexTensor<B, 2>,
    /// Output vectors C̃ = C(I − Āᴸ) for the internal length, (Cc, H, Nh).
    pub c_tilde: ComplexTensor<B, 3>,
    /// Low-rank factor P, (r, H, Nh); r is 1 or 2.
    pub p: ComplexTensor<B, 3>,
}

/// The S4 convolution kernel K (Cc, H, `len`) of a DPLR system whose C̃ is
/// attuned to the internal length `kernel_len` (any length ≥ `len`):
/// K_l = C Āˡ B̄ for l < `len`, in the parameters' dtype.
///
/// The generating function ([`dplr_spectrum()`], whose gradients are
/// factorised to avoid the Woodbury cancellation) and the inverse FFT are
/// always evaluated in f64 (the parameters are widened, the kernel narrowed
/// back): for a mode next to a node (HiPPO-FouT keeps one at
/// Λ ≈ −10⁻⁴ − 10⁻⁴i, beside s = 0) the gradients of Λ, B, C̃ and Δ are
/// conditioned like |ΔBP/(s − ΔΛ)|², which f32 cannot resolve
/// (state-spaces/s4's own f32 autograd is 7e-2 … 2.6 off its f64 result in
/// `A_imag` on the FouT reference cases).
pub fn dplr_kernel<B: SpectralOps + DplrSpectrumOps>(
    params: &DplrKernelParams<B>,
    kernel_len: usize,
    len: usize,
) -> Result<Tensor<B, 3>> {
    let dtype = params.dt.dtype();
    if dtype == DType::F64 {
        return dplr_kernel_f64(params, kernel_len, len);
    }
    let wide = DplrKernelParams {
        dt: params.dt.clone().cast(DType::F64),
        lambda: params.lambda.map(|t| t.cast(DType::F64)),
        b: params.b.map(|t| t.cast(DType::F64)),
        c_tilde: params.c_tilde.map(|t| t.cast(DType::F64)),
        p: params.p.map(|t| t.cast(DType::F64)),
    };
    Ok(dplr_kernel_f64(&wide, kernel_len, len)?.cast(dtype))
}

/// [`dplr_kernel`] for f64 parameters.
fn dplr_kernel_f64<B: SpectralOps + DplrSpectrumOps>(
    params: &DplrKernelParams<B>,
    kernel_len: usize,
    len: usize,
) -> Result<Tensor<B, 3>> {
    if kernel_len == 0 {
        return Err(Error::config(
            "l_kernel",
            "the DPLR kernel length must be at least 1",
        ));
    }
    if len > kernel_len {
        return Err(Error::config(
            "l_kernel",
            format!("kernel requested for length {len} but C̃ is attuned to {kernel_len}"),
        ));
    }
    let device = params.dt.device();
    let dtype = params.dt.dtype();

    // Nodes ω_k = exp(−2πik/L) for k < ⌈L/2⌉; s_k = 2(1 − ω)/(1 + ω) = 2i·tan(πk/L).
    // For even L the Nyquist node ω = −1 (s = ∞) is added in closed form below.
    let half = kernel_len.div_ceil(2);
    let tangents: Vec<f64> = (0..half)
        .map(|k| (std::f64::consts::PI * k as f64 / kernel_len as f64).tan())
        .collect();
    let nodes: Vec<Complex64> = tangents
        .iter()
        .map(|t| Complex64::new(0.0, 2.0 * t))
        .collect();
    let spectrum = dplr_spectrum(
        &params.dt,
        &params.lambda,
        &params.b,
        &params.p,
        &params.c_tilde,
        &nodes,
    )?; // (H, Cc, half)
    let dt = params.dt.clone().unsqueeze_dim::<2>(1); // (H, 1)
    // Bilinear factor 2/(1 + ω) = 1 + i·tan(πk/L).
    let factor = ComplexTensor::new(
        tensor_from_f64(vec![1.0; half], [1, 1, half], &device, dtype),
        tensor_from_f64(tangents, [1, 1, half], &device, dtype),
    );
    let spectrum = spectrum.mul(&factor); // (H, Cc, half)

    // Nyquist node ω = −1: K̂ = (Δ/2)·Σ_{2Nh} C̃B = Δ·Re Σₙ C̃ₙBₙ (low-rank terms vanish as s → ∞).
    let nyquist = params
        .c_tilde
        .mul(&params.b.map(|t| t.unsqueeze_dim::<3>(0)))
        .re
        .sum_dim(2) // (Cc, H, 1)
        .mul(dt.unsqueeze_dim::<3>(0))
        .swap_dims(0, 1); // (H, Cc, 1)
    let (spec_re, spec_im) = if kernel_len.is_multiple_of(2) {
        (
            Tensor::cat(vec![spectrum.re, nyquist.clone()], 2),
            Tensor::cat(vec![spectrum.im, nyquist.zeros_like()], 2),
        )
    } else {
        (spectrum.re, spectrum.im)
    };
    let kernel = irfft(spec_re, spec_im, kernel_len)?; // (H, Cc, L)
    Ok(kernel.narrow(2, 0, len).swap_dims(0, 1))
}

/// The nodes at which a DPLR kernel of length `kernel_len` evaluates its
/// Cauchy sums: s_k = 2i·tan(πk/L) for k < ⌈L/2⌉, then their negatives
/// (2·⌈L/2⌉ nodes).
pub fn cauchy_nodes(kernel_len: usize) -> Vec<Complex64> {
    let tangents = (0..kernel_len.div_ceil(2))
        .map(|k| (std::f64::consts::PI * k as f64 / kernel_len as f64).tan());
    tangents
        .clone()
        .map(|t| Complex64::new(0.0, 2.0 * t))
        .chain(tangents.map(|t| Complex64::new(0.0, -2.0 * t)))
        .collect()
}

/// One channel of a DPLR system in f64 on the host, for set-up work that is
/// not differentiated: attuning C̃ to a length and building the recurrent form.
#[derive(Debug, Clone)]
pub struct DplrSystem {
    /// Λ, (Nh).
    pub lambda: Vec<c64>,
    /// P, (r, Nh).
    pub p: Vec<Vec<c64>>,
    /// B, (Nh).
    pub b: Vec<c64>,
    /// Step size Δ.
    pub dt: f64,
}

/// A dense discrete system over the conjugate-expanded 2Nh modes:
/// `a` is Ā (2Nh, 2Nh), `b` is B̄ (2Nh).
#[derive(Debug, Clone)]
pub struct ExpandedDiscrete {
    /// Ā, (2Nh, 2Nh).
    pub a: Mat<c64>,
    /// B̄, (2Nh).
    pub b: Vec<c64>,
}

fn expand(x: &[c64]) -> Vec<c64> {
    x.iter()
        .copied()
        .chain(x.iter().map(|z| z.conj()))
        .collect()
}

impl DplrSystem {
    fn modes(&self) -> usize {
        2 * self.lambda.len()
    }

    /// A over the expanded modes: diag([Λ, Λ̄]) − P₂P₂ᴴ with P₂ = [P, P̄], (2Nh, 2Nh).
    pub fn expanded_a(&self) -> Mat<c64> {
        let m = self.modes();
        let lam = expand(&self.lambda);
        let p2: Vec<Vec<c64>> = self.p.iter().map(|row| expand(row)).collect();
        Mat::from_fn(m, m, |i, k| {
            let low_rank: c64 = p2.iter().map(|row| row[i] * row[k].conj()).sum();
            let diag = if i == k { lam[i] } else { c64::new(0.0, 0.0) };
            diag - low_rank
        })
    }

    /// Bilinear discretisation Ā = (I − Δ/2·A)⁻¹(I + Δ/2·A), B̄ = (I − Δ/2·A)⁻¹ Δ B₂.
    pub fn bilinear(&self) -> ExpandedDiscrete {
        let m = self.modes();
        let a = self.expanded_a();
        let half_dt = c64::new(self.dt / 2.0, 0.0);
        let eye = |i: usize, k: usize| {
            if i == k {
                c64::new(1.0, 0.0)
            } else {
                c64::new(0.0, 0.0)
            }
        };
        let lhs = Mat::from_fn(m, m, |i, k| eye(i, k) - half_dt * a[(i, k)]);
        let rhs = Mat::from_fn(m, m, |i, k| eye(i, k) + half_dt * a[(i, k)]);
        let lu = lhs.partial_piv_lu();
        let a_bar = lu.solve(&rhs);
        let b2 = expand(&self.b);
        let b_bar = lu.solve(Mat::from_fn(m, 1, |i, _| b2[i] * self.dt));
        ExpandedDiscrete {
            a: a_bar,
            b: (0..m).map(|i| b_bar[(i, 0)]).collect(),
        }
    }

    /// C̃ = C(I − Āᴸ) (kept half, (Nh)) from the kept half of C, (Nh).
    pub fn c_tilde(&self, c: &[c64], len: usize) -> Vec<c64> {
        let disc = self.bilinear();
        let power = matrix_power(&disc.a, len);
        let c2 = expand(c);
        let m = self.modes();
        (0..m / 2)
            .map(|k| c2[k] - (0..m).map(|i| c2[i] * power[(i, k)]).sum::<c64>())
            .collect()
    }

    /// The expanded output vector C₂ (2Nh) recovered from C̃ (Nh) attuned to
    /// `len`: C₂ᵀ = C̃₂ᵀ(I − Āᴸ)⁻¹.
    pub fn c_from_tilde(&self, c_tilde: &[c64], len: usize, disc: &ExpandedDiscrete) -> Vec<c64> {
        let m = self.modes();
        let power = matrix_power(&disc.a, len);
        // Solve (I − Āᴸ)ᵀ x = C̃₂.
        let lhs = Mat::from_fn(m, m, |i, k| {
            let eye = if i == k {
                c64::new(1.0, 0.0)
            } else {
                c64::new(0.0, 0.0)
            };
            eye - power[(k, i)]
        });
        let ct2 = expand(c_tilde);
        let x = lhs
            .partial_piv_lu()
            .solve(Mat::from_fn(m, 1, |i, _| ct2[i]));
        (0..m).map(|i| x[(i, 0)]).collect()
    }
}

/// Āᵖ by binary exponentiation.
pub fn matrix_power(a: &Mat<c64>, mut p: usize) -> Mat<c64> {
    let n = a.nrows();
    let mut result = Mat::<c64>::identity(n, n);
    let mut base = a.clone();
    while p > 0 {
        if p & 1 == 1 {
            result = &result * &base;
        }
        base = &base * &base;
        p >>= 1;
    }
    result
}
