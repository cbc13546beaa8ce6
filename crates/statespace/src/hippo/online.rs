//! Online function approximation: running a HiPPO system over a signal
//! leaves in its state the coefficients of the signal's projection onto the
//! measure's orthogonal basis, from which the history is reconstructed.
//!
//! The signal is sampled at L points on [0, 1] (step Δ = 1/L) and the
//! systems are discretised with the bilinear rule.
//! - LegS (HiPPO paper, scaled Legendre): time-varying, c_k =
//!   (I − A/2k)⁻¹[(I + A/2k) c_{k−1} + B f_k / k]; the whole history [0, t]
//!   is approximated: f(s) ≈ Σₙ cₙ √(2n+1) Pₙ(2s/t − 1).
//! - LegT, FouT: time-invariant over a sliding window of length θ. With the
//!   halved matrices of [`transition`](super::transition) the ODE is
//!   c' = (2/θ)(A c + B f). Basis on the window, x = (s − t + θ)/θ ∈ [0, 1]:
//!   LegT √(2n+1) Pₙ(2x − 1); FouT 1, √2 cos(2πmx), −√2 sin(2πmx).
//! - LagT: c' = (1/τ)(A c + B f) with τ = θ/(2N) so that the window spans
//!   the support of the N Laguerre functions; f(t − y) ≈ Σₙ cₙ Lₙ(y/τ) e^{−y/2τ}.

use faer::Col;

use super::transition::{Measure, transition};
use crate::discretize::{Discretization, dense};
use crate::error::{Error, Result};

/// The state after processing a signal, with what is needed to reconstruct it.
#[derive(Debug, Clone)]
pub struct Projection {
    /// The measure.
    pub measure: Measure,
    /// Final coefficients c (N).
    pub coefficients: Vec<f64>,
    /// Window length θ as a fraction of the signal (1 for LegS).
    pub window: f64,
}

/// Samples of a CSV text: one per line, the last column; a first line that
/// does not parse is a header. `source` names the text in errors (with the
/// line). At least two samples, every one finite.
pub fn parse_signal(text: &str, source: &str) -> Result<Vec<f64>> {
    let bad = |line: usize, message: String| Error::Format {
        path: format!("{source}:{line}").into(),
        message,
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let field = line.rsplit(',').next().unwrap_or("").trim();
        match field.parse::<f64>() {
            Ok(v) if v.is_finite() => out.push(v),
            Ok(v) => return Err(bad(i + 1, format!("non-finite sample {v}"))),
            Err(_) if out.is_empty() && i == 0 => continue, // header
            Err(_) => return Err(bad(i + 1, format!("`{field}` is not a number"))),
        }
    }
    if out.len() < 2 {
        return Err(Error::Format {
            path: source.into(),
            message: format!("needs at least two samples, found {}", out.len()),
        });
    }
    Ok(out)
}

/// The largest signal magnitude [`project`] accepts (squares stay finite).
pub const MAX_SAMPLE: f64 = 1e150;
/// The largest state size [`project`] accepts (an N×N solve per sample).
pub const MAX_STATE: usize = 1024;

/// Runs the HiPPO system of `measure` with `n` states over `signal`
/// (samples on [0, 1]). `window` (0, 1] is the sliding-window length for
/// LegT, FouT and LagT (LegS always covers the whole history).
pub fn project(measure: Measure, n: usize, signal: &[f64], window: f64) -> Result<Projection> {
    if signal.is_empty() {
        return Err(Error::config("input", "the signal is empty"));
    }
    if let Some(bad) = signal.iter().find(|x| !x.is_finite()) {
        return Err(Error::NonFinite {
            name: "input".into(),
            message: format!("signal value {bad}"),
        });
    }
    if let Some(big) = signal.iter().find(|x| x.abs() > MAX_SAMPLE) {
        return Err(Error::config(
            "input",
            format!(
                "signal value {big:e} exceeds {MAX_SAMPLE:e} in magnitude: the projection's \
                 sums of squares would overflow (rescale the signal)"
            ),
        ));
    }
    if n > MAX_STATE {
        return Err(Error::config(
            "n",
            format!(
                "state size {n} is above {MAX_STATE}: the online projection solves an N×N \
                 system per sample"
            ),
        ));
    }
    if !(window > 0.0 && window <= 1.0) {
        return Err(Error::config(
            "window",
            format!("must be in (0, 1], got {window}"),
        ));
    }
    let len = signal.len();
    let t = transition(measure, n)?;
    let mut c = Col::<f64>::zeros(n);
    match measure {
        Measure::LegS => {
            for (k, &f) in signal.iter().enumerate() {
                let step = 1.0 / (k + 1) as f64;
                let system = dense(&t.a, &t.b, step, Discretization::Bilinear)?;
                // Bilinear with Δ = 1/k on (A, B) is exactly (I − A/2k)⁻¹(I + A/2k), (I − A/2k)⁻¹ B/k.
                c = &system.a * &c + &system.b * faer::Scale(f);
            }
        }
        _ => {
            let rate = match measure {
                Measure::LagT { .. } => 2.0 * n as f64 / window,
                _ => 2.0 / window,
            };
            let a = &t.a * faer::Scale(rate);
            let b = &t.b * faer::Scale(rate);
            let system = dense(&a, &b, 1.0 / len as f64, Discretization::Bilinear)?;
            for &f in signal {
                c = &system.a * &c + &system.b * faer::Scale(f);
            }
        }
    }
    Ok(Projection {
        measure,
        coefficients: (0..n).map(|i| c[i]).collect(),
        window: if measure == Measure::LegS {
            1.0
        } else {
            window
        },
    })
}

impl Projection {
    /// The reconstruction at `points` equally spaced positions across the
    /// approximated span (the last `window` of the signal, oldest first).
    pub fn reconstruct(&self, points: usize) -> Vec<f64> {
        let n = self.coefficients.len();
        (0..points)
            .map(|j| {
                let x = (j as f64 + 0.5) / points as f64; // position in the span, 0 = oldest
                (0..n)
                    .map(|i| self.coefficients[i] * self.basis(i, x))
                    .sum()
            })
            .collect()
    }

    /// Basis function i at relative position x ∈ [0, 1] of the span.
    fn basis(&self, i: usize, x: f64) -> f64 {
        let n = self.coefficients.len();
        match self.measure {
            Measure::LegS | Measure::LegT => {
                ((2 * i + 1) as f64).sqrt() * legendre(i, 2.0 * x - 1.0)
            }
            Measure::FouT => {
                let m = (i / 2) as f64;
                let phase = 2.0 * std::f64::consts::PI * m * x;
                match (i, i % 2) {
                    (0, _) => 1.0,
                    (_, 0) => std::f64::consts::SQRT_2 * phase.cos(),
                    _ => -std::f64::consts::SQRT_2 * phase.sin(),
                }
            }
            Measure::LagT { .. } => {
                // y/τ, with y = (1 − x)·θ the age of the sample and τ = θ/(2N).
                let scaled_age = (1.0 - x) * 2.0 * n as f64;
                laguerre(i, scaled_age) * (-scaled_age / 2.0).exp()
            }
        }
    }
}

/// Legendre polynomial Pₙ(x) by Bonnet's recurrence.
pub fn legendre(order: usize, x: f64) -> f64 {
    let (mut p0, mut p1) = (1.0, x);
    if order == 0 {
        return p0;
    }
    for k in 1..order {
        let p2 = ((2 * k + 1) as f64 * x * p1 - k as f64 * p0) / (k + 1) as f64;
        p0 = p1;
        p1 = p2;
    }
    p1
}

/// Laguerre polynomial Lₙ(x) by its three-term recurrence.
pub fn laguerre(order: usize, x: f64) -> f64 {
    let (mut l0, mut l1) = (1.0, 1.0 - x);
    if order == 0 {
        return l0;
    }
    for k in 1..order {
        let l2 = (((2 * k + 1) as f64 - x) * l1 - k as f64 * l0) / (k + 1) as f64;
        l0 = l1;
        l1 = l2;
    }
    l1
}

/// Relative L2 error ‖f − f̂‖ / ‖f‖ of a reconstruction over the last
/// `recon.len()` samples' span of `signal` (resampled by nearest sample).
pub fn relative_error(signal: &[f64], window: f64, recon: &[f64]) -> f64 {
    let len = signal.len();
    let span = ((window * len as f64).round() as usize).clamp(1, len);
    let start = len - span;
    let (mut num, mut den) = (0.0, 0.0);
    for (j, r) in recon.iter().enumerate() {
        let idx = start + ((j as f64 + 0.5) / recon.len() as f64 * span as f64) as usize;
        let f = signal[idx.min(len - 1)];
        num += (f - r).powi(2);
        den += f * f;
    }
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}
