//! S5's initialisation (s5/ssm_init.py and the block lines of s5/train.py),
//! on the host in f64: per block of N = P/blocks states the diagonalised
//! HiPPO-LegS ([`normal_legs`]), half of its modes kept with conjugate
//! symmetry; B = V* B_raw and C = C_raw V block by block, B_raw and C_raw
//! real LeCun-normal draws over the P states (or C drawn directly complex).

use num_complex::Complex64;
use rand::Rng;

use super::config::{CInit, S5Config};
use crate::error::Result;
use crate::hippo::normal_legs;
use crate::random::{normal_values, truncated_normal_values};

/// The initial parameters, complex values as (re, im) pairs in row-major
/// order: Λ (P'), B (P', H), each C (H, P' or 2P'), log Δ (P'), D (H) for
/// P' kept modes.
pub(super) struct InitialValues {
    pub lambda: Vec<Complex64>,
    pub b: Vec<Complex64>,
    /// C (H, P' or 2P'), or C1 and C2 (bidirectional with C·V
    /// initialisations).
    pub c: InitialC,
    pub log_step: Vec<f64>,
    pub d: Vec<f64>,
}

/// The initial output matrix in the layout the module stores it.
pub(super) enum InitialC {
    /// One C: (H, P'), or (H, 2P') bidirectional with a complex-normal init.
    One(Vec<Complex64>),
    /// C1 and C2, (H, P') each.
    Two(Vec<Complex64>, Vec<Complex64>),
}

/// Draws the layer's initial parameters from `rng`; `config` validated.
pub(super) fn initial_values(config: &S5Config, rng: &mut impl Rng) -> Result<InitialValues> {
    let h = config.d_model;
    let (blocks, states) = (config.blocks, config.ssm_size);
    let block = states / blocks;
    let kept = if config.conj_sym { block / 2 } else { block };
    let modes = blocks * kept;
    let hippo = normal_legs(block)?;
    let lambda: Vec<Complex64> = (0..modes)
        .map(|m| {
            let z = hippo.lambda[m % kept];
            Complex64::new(z.re, z.im)
        })
        .collect();
    let v = |i: usize, j: usize| {
        let z = hippo.v[(i, j)];
        Complex64::new(z.re, z.im)
    };
    // B = V* B_raw per block, B_raw (P, H) with variance 1/P.
    let b_raw = truncated_normal_values(rng, states * h, (1.0 / states as f64).sqrt());
    let mut b = vec![Complex64::default(); modes * h];
    for k in 0..blocks {
        for j in 0..kept {
            for col in 0..h {
                b[(k * kept + j) * h + col] = (0..block)
                    .map(|i| v(i, j).conj() * b_raw[(k * block + i) * h + col])
                    .sum();
            }
        }
    }
    // C = C_raw V per block, C_raw (H, P) complex.
    let c_times_v = |raw: &[f64]| -> Vec<Complex64> {
        let raw = |row: usize, i: usize| {
            Complex64::new(raw[(row * states + i) * 2], raw[(row * states + i) * 2 + 1])
        };
        let mut c = vec![Complex64::default(); h * modes];
        for row in 0..h {
            for k in 0..blocks {
                for j in 0..kept {
                    c[row * modes + k * kept + j] =
                        (0..block).map(|i| raw(row, k * block + i) * v(i, j)).sum();
                }
            }
        }
        c
    };
    let directions = if config.bidirectional { 2 } else { 1 };
    // C·V (C1, C2 bidirectional) from real (H, P, 2) draws.
    let draw_cv = |rng: &mut _| {
        let raw: Vec<f64> = if config.c_init == CInit::TruncStandardNormal {
            let std_row = (1.0 / states as f64).sqrt();
            (0..h)
                .flat_map(|_| truncated_normal_values(rng, 2 * states, std_row))
                .collect()
        } else {
            let std_all = (1.0 / (states * h) as f64).sqrt();
            truncated_normal_values(rng, 2 * states * h, std_all)
        };
        c_times_v(&raw)
    };
    let c = match (config.c_init, config.bidirectional) {
        (CInit::ComplexNormal, _) => {
            let parts = normal_values(rng, 2 * h * directions * modes, 0.5f64.sqrt());
            InitialC::One(
                parts
                    .chunks(2)
                    .map(|p| Complex64::new(p[0], p[1]))
                    .collect(),
            )
        }
        (_, false) => InitialC::One(draw_cv(rng)),
        (_, true) => InitialC::Two(draw_cv(rng), draw_cv(rng)),
    };
    let (lo, hi) = (config.dt_min.ln(), config.dt_max.ln());
    let log_step = (0..modes).map(|_| rng.random_range(lo..=hi)).collect();
    let d = normal_values(rng, h, 1.0);
    Ok(InitialValues {
        lambda,
        b,
        c,
        log_step,
        d,
    })
}
