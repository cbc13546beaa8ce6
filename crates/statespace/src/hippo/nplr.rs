//! Normal-plus-low-rank (NPLR) and diagonal-plus-low-rank (DPLR) forms of the
//! HiPPO matrices: A = V (Λ − P P*) V*, the S4 parameterisation.
//!
//! A HiPPO matrix plus a low-rank term is normal: A + PᵀP = w·I + S with S
//! skew-symmetric. S = −i·H with H Hermitian, so it is diagonalised by a
//! Hermitian eigendecomposition H = U diag(λ) U*, giving the eigenvalues
//! Λ = w + iλ. The system is real, so eigenvalues come in conjugate pairs and
//! only the half with Im Λ ≤ 0 is kept: V is (N, N/2). The kernel of the real
//! system is recovered by summing over both halves of each pair (see
//! [`crate::kernel::dplr`]).

use faer::{Mat, Side, c64};

use super::transition::{Measure, rank_correction, transition};
use crate::error::{Error, Result};

/// The NPLR/DPLR form of a HiPPO system of state size N, in the
/// eigenbasis, keeping one eigenvalue of each conjugate pair.
#[derive(Debug, Clone)]
pub struct Nplr {
    /// Eigenvalues Λ of the normal part, (N/2), sorted by imaginary part
    /// (most negative first).
    pub lambda: Vec<c64>,
    /// Low-rank factor in the eigenbasis, V* Pᵀ: (rank, N/2).
    pub p: Mat<c64>,
    /// Input vector in the eigenbasis, V* B: (N/2). Imaginary parts are
    /// clipped to ±`b_clip` when a clip is given (as state-spaces/s4 does).
    pub b: Vec<c64>,
    /// Eigenvectors, (N, N/2), columns orthonormal.
    pub v: Mat<c64>,
}

/// Decomposes the HiPPO matrix of `measure` into NPLR form
/// (state-spaces/s4 `nplr()`): N must be even, `rank` ≥ the measure's natural
/// rank. `b_clip` bounds |Im B| (s4's default is 2.0; `None` keeps B exact).
pub fn nplr(measure: Measure, n: usize, rank: usize, b_clip: Option<f64>) -> Result<Nplr> {
    if n < 2 || !n.is_multiple_of(2) {
        return Err(Error::config(
            "d_state",
            format!(
                "the DPLR form keeps one of each conjugate pair, so N must be even and ≥ 2, got {n}"
            ),
        ));
    }
    let hippo = transition(measure, n)?;
    let p_real = rank_correction(measure, n, rank)?; // (rank, N)
    let ap = &hippo.a + p_real.transpose() * &p_real; // A + PᵀP, normal

    let w_re = (0..n).map(|i| ap[(i, i)]).sum::<f64>() / n as f64;
    // H = −i·(AP − w I) is Hermitian; only its strict lower triangle and a
    // zero diagonal are used, as torch.linalg.eigh does with −i·AP.
    let h = Mat::<c64>::from_fn(n, n, |i, k| match i.cmp(&k) {
        std::cmp::Ordering::Greater => c64::new(0.0, -ap[(i, k)]),
        std::cmp::Ordering::Less => c64::new(0.0, ap[(k, i)]),
        std::cmp::Ordering::Equal => c64::new(0.0, 0.0),
    });
    let evd = h
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| Error::Numerical {
            what: format!("Hermitian eigendecomposition of the {measure} matrix (N = {n})"),
            message: format!("{e:?}"),
        })?;
    let half = n / 2;
    // Eigenvalues are ascending: the first N/2 have Im Λ ≤ 0.
    let lambda: Vec<c64> = (0..half).map(|j| c64::new(w_re, evd.S()[j].re)).collect();
    let mut v = Mat::<c64>::from_fn(n, half, |i, j| evd.U()[(i, j)]);

    // A zero eigenvalue pair (FouT's constant and zero-frequency sine) has no
    // well-defined conjugate partner; as s4 does, pin its eigenvector to the
    // complex combination of the first two states.
    if lambda[half - 1].norm() < 1e-4 {
        for i in 0..n {
            v[(i, half - 1)] = c64::new(0.0, 0.0);
        }
        v[(0, half - 1)] = c64::new(std::f64::consts::FRAC_1_SQRT_2, 0.0);
        v[(1, half - 1)] = c64::new(0.0, std::f64::consts::FRAC_1_SQRT_2);
    }

    let v_adj = v.adjoint().to_owned(); // (N/2, N)
    let b: Vec<c64> = (0..half)
        .map(|j| {
            let bj: c64 = (0..n).map(|i| v_adj[(j, i)] * hippo.b[i]).sum();
            match b_clip {
                Some(clip) => c64::new(bj.re, bj.im.clamp(-clip, clip)),
                None => bj,
            }
        })
        .collect();
    let p = Mat::<c64>::from_fn(rank, half, |r, j| {
        (0..n).map(|i| v_adj[(j, i)] * p_real[(r, i)]).sum()
    });
    Ok(Nplr { lambda, p, b, v })
}

impl Nplr {
    /// Reconstructs the real A (N, N) from the kept half of the spectrum:
    /// A = 2·Re(V diag(Λ) V*) − (P Pᵀ in the original basis). The low-rank
    /// term is rebuilt from the eigenbasis factor as 2·Re(V P_e)ᵀ over both
    /// halves, so the result tests the whole decomposition.
    pub fn reconstruct_a(&self) -> Mat<f64> {
        let n = self.v.nrows();
        let half = self.v.ncols();
        let vl = Mat::<c64>::from_fn(n, half, |i, j| self.v[(i, j)] * self.lambda[j]);
        let normal = &vl * self.v.adjoint();
        // P in the original basis: P = V_full V_full* P = 2 Re(V (V* P)).
        let p_orig = Mat::<f64>::from_fn(self.p.nrows(), n, |r, i| {
            2.0 * (0..half)
                .map(|j| self.v[(i, j)] * self.p[(r, j)])
                .sum::<c64>()
                .re
        });
        Mat::<f64>::from_fn(n, n, |i, k| {
            2.0 * normal[(i, k)].re
                - (0..p_orig.nrows())
                    .map(|r| p_orig[(r, i)] * p_orig[(r, k)])
                    .sum::<f64>()
        })
    }
}
