//! HiPPO transition matrices: the continuous-time (A, B) of
//! x'(t) = A x(t) + B u(t) whose state holds the coefficients of an online
//! projection of u onto an orthogonal polynomial (or Fourier) basis.
//!
//! Conventions follow state-spaces/s4 `transition()` (HiPPO paper, Gu et al.
//! 2020, Appendix D), stated here as closed forms, for n, k in 0..N:

use std::fmt;
use std::str::FromStr;

use faer::{Col, Mat};

use crate::error::{Error, Result};

/// A HiPPO measure: the weighting over the past that the state approximates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Measure {
    /// Scaled Legendre: uniform weight over the whole history [0, t].
    /// A\[n,k\] = −√(2n+1)√(2k+1) if n > k, −(n+1) if n = k, 0 if n < k; B\[n\] = √(2n+1).
    LegS,
    /// Translated Legendre: uniform weight over a sliding window of length 1,
    /// halved for timescale correctness as in state-spaces/s4:
    /// A\[n,k\] = −½·√(2n+1)√(2k+1)·(1 if n ≥ k else (−1)^(n−k)); B\[n\] = ½·√(2n+1).
    LegT,
    /// Translated Laguerre: exponentially decaying weight e^(−(t−s)), with
    /// Laguerre functions L_n(y)·e^(−y/2) as the basis:
    /// A\[n,k\] = −½ if n = k, −1 if n > k, 0 if n < k; B\[n\] = β.
    LagT {
        /// Input scale β (1 in the HiPPO paper).
        beta: f64,
    },
    /// Translated Fourier with the rank-one correction for the window's far
    /// end subtracted. States (2m, 2m+1) are the cosine and sine of frequency
    /// m: A = S − B Bᵀ with S[2m, 2m+1] = −π·m, S[2m+1, 2m] = π·m (0 elsewhere),
    /// B = (1, 0, √2, 0, √2, 0, …).
    FouT,
}

impl Measure {
    /// The name used by state-spaces/s4 and on the command line.
    pub fn name(&self) -> &'static str {
        match self {
            Measure::LegS => "legs",
            Measure::LegT => "legt",
            Measure::LagT { .. } => "lagt",
            Measure::FouT => "fout",
        }
    }
}

impl fmt::Display for Measure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for Measure {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "legs" => Ok(Measure::LegS),
            "legt" => Ok(Measure::LegT),
            "lagt" => Ok(Measure::LagT { beta: 1.0 }),
            "fout" | "fourier" => Ok(Measure::FouT),
            other => Err(Error::config(
                "measure",
                format!("unknown HiPPO measure `{other}` (expected legs, legt, lagt or fout)"),
            )),
        }
    }
}

/// Continuous-time HiPPO system: `a` is (N, N), `b` is (N).
#[derive(Debug, Clone)]
pub struct Transition {
    /// State matrix A, (N, N).
    pub a: Mat<f64>,
    /// Input vector B, (N).
    pub b: Col<f64>,
}

/// The largest state size whose dense HiPPO matrix is built (512 MiB in f64).
pub const MAX_N: usize = 8192;

/// The HiPPO transition (A, B) of `measure` with state size `n` (1 ≤ n ≤ [`MAX_N`];
/// FouT needs an even n).
pub fn transition(measure: Measure, n: usize) -> Result<Transition> {
    if n == 0 {
        return Err(Error::config("d_state", "state size N must be at least 1"));
    }
    if n > MAX_N {
        return Err(Error::config(
            "d_state",
            format!("state size N = {n} is above {MAX_N} (the dense N×N matrix would not fit)"),
        ));
    }
    let sq = |i: usize| ((2 * i + 1) as f64).sqrt();
    let (a, b) = match measure {
        Measure::LegS => (
            Mat::from_fn(n, n, |i, k| match i.cmp(&k) {
                std::cmp::Ordering::Greater => -sq(i) * sq(k),
                std::cmp::Ordering::Equal => -((i + 1) as f64),
                std::cmp::Ordering::Less => 0.0,
            }),
            Col::from_fn(n, sq),
        ),
        Measure::LegT => (
            Mat::from_fn(n, n, |i, k| {
                let sign = if i >= k || (k - i) % 2 == 0 {
                    1.0
                } else {
                    -1.0
                };
                -0.5 * sq(i) * sq(k) * sign
            }),
            Col::from_fn(n, |i| 0.5 * sq(i)),
        ),
        Measure::LagT { beta } => (
            Mat::from_fn(n, n, |i, k| match i.cmp(&k) {
                std::cmp::Ordering::Greater => -1.0,
                std::cmp::Ordering::Equal => -0.5,
                std::cmp::Ordering::Less => 0.0,
            }),
            Col::from_fn(n, |_| beta),
        ),
        Measure::FouT => {
            if !n.is_multiple_of(2) {
                return Err(Error::config(
                    "d_state",
                    format!("FouT needs an even state size (sine/cosine pairs), got {n}"),
                ));
            }
            let b = Col::from_fn(n, fourier_b);
            // States (2m, 2m+1) are the cosine and sine of frequency m; they
            // rotate into each other at rate π·2m/2 = π·m (m = 0 couples nothing).
            let coupling = |even: usize| std::f64::consts::PI * (even / 2) as f64;
            let a = Mat::from_fn(n, n, |i, k| {
                let skew = if k == i + 1 && i % 2 == 0 {
                    -coupling(i)
                } else if i == k + 1 && k % 2 == 0 {
                    coupling(k)
                } else {
                    0.0
                };
                skew - b[i] * b[k]
            });
            (a, b)
        }
    };
    Ok(Transition { a, b })
}

/// B of FouT: 1 for the constant term, √2 for each cosine, 0 for each sine.
fn fourier_b(i: usize) -> f64 {
    if i == 0 {
        1.0
    } else if i.is_multiple_of(2) {
        std::f64::consts::SQRT_2
    } else {
        0.0
    }
}

/// The low-rank correction P (rank, N) that makes A + PᵀP normal
/// (identity plus skew-symmetric), as in state-spaces/s4 `rank_correction()`.
///
/// `rank` may exceed the measure's natural rank (LegS, LagT, FouT: 1; LegT: 2):
/// extra rows are zero.
pub fn rank_correction(measure: Measure, n: usize, rank: usize) -> Result<Mat<f64>> {
    let natural = match measure {
        Measure::LegT => 2,
        _ => 1,
    };
    if rank < natural {
        return Err(Error::config(
            "rank",
            format!("{measure} needs a low-rank correction of rank ≥ {natural}, got {rank}"),
        ));
    }
    let mut p = Mat::<f64>::zeros(rank, n);
    for i in 0..n {
        match measure {
            Measure::LegS => p[(0, i)] = (0.5 + i as f64).sqrt(),
            Measure::LegT => {
                // √(2i+1)/√2 split by parity: odd states in row 0, even in row 1.
                let v = ((2 * i + 1) as f64).sqrt() * std::f64::consts::FRAC_1_SQRT_2;
                p[((i + 1) % 2, i)] = v;
            }
            Measure::LagT { .. } => p[(0, i)] = std::f64::consts::FRAC_1_SQRT_2,
            Measure::FouT => p[(0, i)] = fourier_b(i),
        }
    }
    Ok(p)
}
