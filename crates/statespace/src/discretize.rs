//! Discretisation: the continuous system x' = A x + B u sampled with step Δ
//! becomes x_k = Ā x_{k−1} + B̄ u_k.
//!
//! Two rules, each for a dense A (f64 matrices, the reference path used by
//! LSSL and tests) and for a diagonal complex A (tensors, used by S4D/DSS
//! layers, differentiable):
//! - zero-order hold (ZOH): Ā = exp(ΔA), B̄ = A⁻¹(exp(ΔA) − I) B
//! - bilinear (Tustin):    Ā = (I − Δ/2·A)⁻¹(I + Δ/2·A), B̄ = (I − Δ/2·A)⁻¹ Δ B

use std::fmt;
use std::str::FromStr;

use burn::tensor::backend::Backend;
use faer::linalg::solvers::Solve;
use faer::{Col, Mat};

use crate::complex::ComplexTensor;
use crate::error::{Error, Result};

/// A discretisation rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Discretization {
    /// Zero-order hold: the input is held constant over each step.
    Zoh,
    /// Bilinear (Tustin) transform.
    Bilinear,
}

impl fmt::Display for Discretization {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Discretization::Zoh => "zoh",
            Discretization::Bilinear => "bilinear",
        })
    }
}

impl FromStr for Discretization {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "zoh" => Ok(Discretization::Zoh),
            "bilinear" => Ok(Discretization::Bilinear),
            other => Err(Error::config(
                "disc",
                format!("unknown discretisation `{other}` (expected zoh or bilinear)"),
            )),
        }
    }
}

/// A dense discrete system: `a` is Ā (N, N), `b` is B̄ (N).
#[derive(Debug, Clone)]
pub struct DenseDiscrete {
    /// Ā, (N, N).
    pub a: Mat<f64>,
    /// B̄, (N).
    pub b: Col<f64>,
}

/// Discretises a dense system (A (N, N), B (N)) with step `dt` > 0.
///
/// ZOH is computed from one exponential of the augmented matrix
/// exp(Δ·[[A, B], [0, 0]]) = [[Ā, B̄], [0, 1]], which needs no A⁻¹ and so also
/// holds for singular A.
pub fn dense(a: &Mat<f64>, b: &Col<f64>, dt: f64, rule: Discretization) -> Result<DenseDiscrete> {
    let n = a.nrows();
    if a.ncols() != n || b.nrows() != n {
        return Err(Error::shape(
            "A, B",
            &[n, n, n],
            &[a.nrows(), a.ncols(), b.nrows()],
        ));
    }
    check_dt(dt)?;
    match rule {
        Discretization::Zoh => {
            let aug = Mat::<f64>::from_fn(n + 1, n + 1, |i, k| {
                if i == n {
                    0.0
                } else if k == n {
                    dt * b[i]
                } else {
                    dt * a[(i, k)]
                }
            });
            let e = expm(&aug);
            Ok(DenseDiscrete {
                a: Mat::from_fn(n, n, |i, k| e[(i, k)]),
                b: Col::from_fn(n, |i| e[(i, n)]),
            })
        }
        Discretization::Bilinear => {
            let lhs = Mat::<f64>::from_fn(n, n, |i, k| eye(i, k) - dt / 2.0 * a[(i, k)]);
            let rhs = Mat::<f64>::from_fn(n, n, |i, k| eye(i, k) + dt / 2.0 * a[(i, k)]);
            let lu = lhs.partial_piv_lu();
            let ad = lu.solve(&rhs);
            let bd = lu.solve(Mat::<f64>::from_fn(n, 1, |i, _| dt * b[i]));
            Ok(DenseDiscrete {
                a: ad,
                b: Col::from_fn(n, |i| bd[(i, 0)]),
            })
        }
    }
}

fn eye(i: usize, k: usize) -> f64 {
    if i == k { 1.0 } else { 0.0 }
}

fn check_dt(dt: f64) -> Result<()> {
    if !dt.is_finite() || dt <= 0.0 {
        return Err(Error::NonFinite {
            name: "dt".into(),
            message: format!("step size must be finite and positive, got {dt}"),
        });
    }
    Ok(())
}

/// Matrix exponential by scaling and squaring with the degree-13 Padé
/// approximant (Higham 2005, "The scaling and squaring method for the matrix
/// exponential revisited"); accurate to about machine precision.
pub fn expm(a: &Mat<f64>) -> Mat<f64> {
    const B: [f64; 14] = [
        64764752532480000.0,
        32382376266240000.0,
        7771770303897600.0,
        1187353796428800.0,
        129060195264000.0,
        10559470521600.0,
        670442572800.0,
        33522128640.0,
        1323241920.0,
        40840800.0,
        960960.0,
        16380.0,
        182.0,
        1.0,
    ];
    const THETA_13: f64 = 5.371920351148152;
    let n = a.nrows();
    let norm1 = (0..n)
        .map(|k| (0..n).map(|i| a[(i, k)].abs()).sum::<f64>())
        .fold(0.0, f64::max);
    let squarings = if norm1 > THETA_13 {
        (norm1 / THETA_13).log2().ceil() as i32
    } else {
        0
    };
    let scale = 2f64.powi(-squarings);
    let a = a * faer::Scale(scale);
    let id = Mat::<f64>::identity(n, n);
    let a2 = &a * &a;
    let a4 = &a2 * &a2;
    let a6 = &a4 * &a2;
    let u_inner = &a6
        * (&a6 * faer::Scale(B[13]) + &a4 * faer::Scale(B[11]) + &a2 * faer::Scale(B[9]))
        + &a6 * faer::Scale(B[7])
        + &a4 * faer::Scale(B[5])
        + &a2 * faer::Scale(B[3])
        + &id * faer::Scale(B[1]);
    let u = &a * u_inner;
    let v = &a6 * (&a6 * faer::Scale(B[12]) + &a4 * faer::Scale(B[10]) + &a2 * faer::Scale(B[8]))
        + &a6 * faer::Scale(B[6])
        + &a4 * faer::Scale(B[4])
        + &a2 * faer::Scale(B[2])
        + &id * faer::Scale(B[0]);
    let mut r = (&v - &u).partial_piv_lu().solve(&v + &u);
    for _ in 0..squarings {
        r = &r * &r;
    }
    r
}

/// Discretises a diagonal complex system elementwise.
///
/// `dt_a` is ΔA (any shape), `b` is B (same shape), `dt` is Δ broadcast to
/// that shape. Returns (Ā, B̄):
/// - ZOH: Ā = exp(ΔA), B̄ = (exp(ΔA) − 1)/A · B = (Ā − 1)/(ΔA) · Δ B
/// - bilinear: Ā = (1 + ΔA/2)/(1 − ΔA/2), B̄ = Δ B/(1 − ΔA/2)
pub fn diagonal<B: Backend, const D: usize>(
    dt_a: &ComplexTensor<B, D>,
    dt_b: &ComplexTensor<B, D>,
    rule: Discretization,
) -> (ComplexTensor<B, D>, ComplexTensor<B, D>) {
    match rule {
        Discretization::Zoh => {
            let a_bar = dt_a.exp();
            let b_bar = a_bar.add_scalar(-1.0).div(dt_a).mul(dt_b);
            (a_bar, b_bar)
        }
        Discretization::Bilinear => {
            let half = dt_a.mul_scalar(0.5);
            let den = half.neg().add_scalar(1.0);
            let a_bar = half.add_scalar(1.0).div(&den);
            let b_bar = dt_b.div(&den);
            (a_bar, b_bar)
        }
    }
}
