//! S5's diagonal initialisation (lindermanlab/S5 `make_DPLR_HiPPO`): the
//! normal part of HiPPO-LegS, S = A + p pᵀ with p = √(n + ½), is
//! −½·I plus a skew-symmetric matrix, so S = V diag(Λ) V* with
//! Λ = mean(diag S) + i·eig(−i·(S − diag S)) over the **whole** spectrum
//! (S5 keeps N modes, or the first N/2 with conjugate symmetry; S4's
//! [`super::nplr`] keeps half). Eigenvalues ascend by imaginary part.

use faer::{Mat, Side, c64};

use super::transition::{Measure, rank_correction, transition};
use crate::error::{Error, Result};

/// The diagonalised normal part of HiPPO-LegS of size N.
#[derive(Debug, Clone)]
pub struct NormalHippo {
    /// Λ (N), ascending imaginary parts, real parts all mean(diag S) = −½.
    pub lambda: Vec<c64>,
    /// Eigenvectors V (N, N), orthonormal columns (each unique up to a
    /// phase).
    pub v: Mat<c64>,
    /// V* p (N).
    pub p: Vec<c64>,
    /// V* B with LegS's B = √(2n + 1) (N).
    pub b: Vec<c64>,
}

/// S5's `make_DPLR_HiPPO(n)`; `n` ≥ 1.
pub fn normal_legs(n: usize) -> Result<NormalHippo> {
    if n == 0 {
        return Err(Error::config(
            "d_state",
            "S5's HiPPO initialisation needs N ≥ 1",
        ));
    }
    let hippo = transition(Measure::LegS, n)?;
    let p = rank_correction(Measure::LegS, n, 1)?; // (1, N)
    let s = &hippo.a + p.transpose() * &p;
    let w_re = (0..n).map(|i| s[(i, i)]).sum::<f64>() / n as f64;
    // −i·(S − diag S), Hermitian (S − diag S is skew-symmetric).
    let h = Mat::<c64>::from_fn(n, n, |i, k| {
        if i == k {
            c64::new(0.0, 0.0)
        } else {
            c64::new(0.0, -s[(i, k)])
        }
    });
    let evd = h
        .self_adjoint_eigen(Side::Lower)
        .map_err(|e| Error::Numerical {
            what: format!("Hermitian eigendecomposition of HiPPO-LegS's normal part (N = {n})"),
            message: format!("{e:?}"),
        })?;
    let lambda: Vec<c64> = (0..n).map(|j| c64::new(w_re, evd.S()[j].re)).collect();
    let v = Mat::<c64>::from_fn(n, n, |i, j| evd.U()[(i, j)]);
    let project = |x: &dyn Fn(usize) -> f64| -> Vec<c64> {
        (0..n)
            .map(|j| (0..n).map(|i| v[(i, j)].conj() * x(i)).sum())
            .collect()
    };
    Ok(NormalHippo {
        lambda,
        p: project(&|i| p[(0, i)]),
        b: project(&|i| hippo.b[i]),
        v,
    })
}
