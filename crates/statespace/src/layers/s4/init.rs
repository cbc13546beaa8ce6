//! Initialisations of (A, B, P) for S4 and S4D (state-spaces/s4 `ssm()` /
//! `dplr()`), in f64, for one of each conjugate pair of modes.

use std::fmt;
use std::str::FromStr;

use faer::c64;
use serde::{Deserialize, Serialize};

use super::config::KernelMode;
use crate::error::{Error, Result};
use crate::hippo::{Measure, nplr};

/// An initialisation of the state matrix and input vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum SsmInit {
    /// HiPPO-LegS in NPLR form (S4's default).
    #[serde(rename = "legs", alias = "hippo")]
    Legs,
    /// HiPPO-LegT in NPLR form (rank 2).
    #[serde(rename = "legt")]
    LegT,
    /// HiPPO-FouT in NPLR form.
    #[serde(rename = "fout", alias = "fourier")]
    Fout,
    /// S4D-Lin: A = −½ − iπn, B = 1.
    #[serde(rename = "diag-lin")]
    DiagLin,
    /// S4D-Inv: A = −½ − i(N/π)(N/(2n+1) − 1), B = 1.
    #[serde(rename = "diag-inv")]
    DiagInv,
    /// S4D-LegS: the diagonal of HiPPO-LegS's NPLR form, with its B.
    #[serde(rename = "diag-legs")]
    DiagLegs,
    /// S4D-Real: A = −(n+1), B = 1.
    #[serde(rename = "diag-real")]
    DiagReal,
}

impl SsmInit {
    /// The name used in configs and by state-spaces/s4.
    pub fn name(&self) -> &'static str {
        match self {
            SsmInit::Legs => "legs",
            SsmInit::LegT => "legt",
            SsmInit::Fout => "fout",
            SsmInit::DiagLin => "diag-lin",
            SsmInit::DiagInv => "diag-inv",
            SsmInit::DiagLegs => "diag-legs",
            SsmInit::DiagReal => "diag-real",
        }
    }

    fn measure(&self) -> Option<Measure> {
        match self {
            SsmInit::Legs => Some(Measure::LegS),
            SsmInit::LegT => Some(Measure::LegT),
            SsmInit::Fout => Some(Measure::FouT),
            _ => None,
        }
    }

    /// LegT's low-rank term has rank 2; everything else needs rank ≥ 1.
    pub(crate) fn check_rank(&self, rank: usize, mode: KernelMode) -> Result<()> {
        if mode == KernelMode::Dplr && *self == SsmInit::LegT && rank < 2 {
            return Err(Error::config("rank", "init legt needs rank 2 in mode dplr"));
        }
        Ok(())
    }
}

impl fmt::Display for SsmInit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for SsmInit {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
            Error::config(
                "init",
                format!("unknown init `{s}` (expected legs, legt, fout, diag-lin, diag-inv, diag-legs or diag-real)"),
            )
        })
    }
}

/// Initial continuous-time parameters of one SSM copy: Nh modes.
#[derive(Debug, Clone)]
pub struct InitialSsm {
    /// Λ, (Nh): the diagonal of A.
    pub lambda: Vec<c64>,
    /// B, (Nh).
    pub b: Vec<c64>,
    /// P, (rank, Nh); zero rows for diagonal inits.
    pub p: Vec<Vec<c64>>,
}

/// (Λ, B, P) for state size `n` (even) and low-rank `rank`.
pub fn initial_ssm(init: SsmInit, n: usize, rank: usize) -> Result<InitialSsm> {
    let nh = n / 2;
    if let Some(measure) = init.measure() {
        let dec = nplr(measure, n, rank, Some(2.0))?;
        return Ok(InitialSsm {
            lambda: dec.lambda,
            b: dec.b,
            p: (0..rank)
                .map(|r| (0..nh).map(|j| dec.p[(r, j)]).collect())
                .collect(),
        });
    }
    let pi = std::f64::consts::PI;
    let nf = n as f64;
    let ones = vec![c64::new(1.0, 0.0); nh];
    let (lambda, b) = match init {
        SsmInit::DiagLin => (
            (0..nh).map(|k| c64::new(-0.5, -pi * k as f64)).collect(),
            ones,
        ),
        SsmInit::DiagInv => (
            (0..nh)
                .map(|k| c64::new(-0.5, -(nf / pi) * (nf / (2 * k + 1) as f64 - 1.0)))
                .collect(),
            ones,
        ),
        SsmInit::DiagReal => (
            (0..nh).map(|k| c64::new(-((k + 1) as f64), 0.0)).collect(),
            ones,
        ),
        SsmInit::DiagLegs => {
            let dec = nplr(Measure::LegS, n, 1, Some(2.0))?;
            (
                dec.lambda.iter().map(|l| c64::new(-0.5, l.im)).collect(),
                dec.b,
            )
        }
        SsmInit::Legs | SsmInit::LegT | SsmInit::Fout => unreachable!("handled above"),
    };
    Ok(InitialSsm {
        lambda,
        b,
        p: vec![vec![c64::new(0.0, 0.0); nh]; rank],
    })
}
