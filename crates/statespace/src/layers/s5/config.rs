//! The S5 layer's settings, by lindermanlab/S5's argument names
//! (`ssm_size_base`, `blocks`, `C_init`, `conj_sym`, `clip_eigs`,
//! `bidirectional`, `discretization`, `dt_min`, `dt_max`, `step_rescale`,
//! `activation_fn`).

use serde::{Deserialize, Serialize};

use crate::discretize::Discretization;
use crate::error::{Error, Result};
use crate::size::{overflow, sum_of_products};

/// How C is drawn at initialisation (S5's `C_init`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CInit {
    /// Per output row a LeCun-normal sample (variance 1/P), then C·V.
    TruncStandardNormal,
    /// One LeCun-normal sample over (H, P, 2) (variance 1/(P·H)), then C·V.
    LecunNormal,
    /// C drawn directly complex, N(0, ½) per part, no V.
    ComplexNormal,
}

/// What follows the SSM in S5's `SequenceLayer` (`activation_fn`), with
/// GELU in flax's tanh form.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum S5Activation {
    /// gelu(y).
    Gelu,
    /// out1(g)·σ(out2(g)) with g = gelu(y).
    FullGlu,
    /// g·σ(out2(g)) with g = gelu(y).
    HalfGlu1,
    /// y·σ(out2(gelu(y))).
    HalfGlu2,
}

/// S5 (Smith, Warrington, Linderman, "Simplified State Space Layers for
/// Sequence Modeling") over `d_model` features: a MIMO diagonal SSM of
/// `ssm_size` states (P/2 complex modes kept with conjugate symmetry),
/// initialised from `blocks` copies of the diagonalised HiPPO-LegS.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S5Config {
    /// Features H.
    pub d_model: usize,
    /// The state size P of the paper (`ssm_size_base`); the layer keeps
    /// P/2 complex modes when `conj_sym`, else P.
    pub ssm_size: usize,
    /// HiPPO blocks of the initialisation (P/blocks states each).
    pub blocks: usize,
    /// Initialisation of C.
    pub c_init: CInit,
    /// Keep one of each conjugate pair of modes (output 2·Re C x).
    pub conj_sym: bool,
    /// Clamp Re Λ to ≤ −10⁻⁴ (stable for unbounded lengths).
    pub clip_eigs: bool,
    /// Add a reverse scan with its own C (not causal).
    pub bidirectional: bool,
    /// Discretisation rule.
    pub disc: Discretization,
    /// Range of the initial step Δ (log-uniform).
    pub dt_min: f64,
    pub dt_max: f64,
    /// Factor on every step Δ (resolution changes).
    pub step_rescale: f64,
    /// What follows the SSM.
    pub activation: S5Activation,
}

impl Default for S5Config {
    fn default() -> Self {
        Self::new(64)
    }
}

impl S5Config {
    /// S5's defaults: P 64 in 1 block, C LeCun-normal, conjugate symmetry,
    /// ZOH, Δ ∈ [0.001, 0.1], half GLU (variant 2), causal, no clipping.
    pub fn new(d_model: usize) -> Self {
        Self {
            d_model,
            ssm_size: 64,
            blocks: 1,
            c_init: CInit::LecunNormal,
            conj_sym: true,
            clip_eigs: false,
            bidirectional: false,
            disc: Discretization::Zoh,
            dt_min: 1e-3,
            dt_max: 1e-1,
            step_rescale: 1.0,
            activation: S5Activation::HalfGlu2,
        }
    }

    /// Complex modes the layer keeps: P/2 with conjugate symmetry, else P.
    pub fn modes(&self) -> usize {
        if self.conj_sym {
            self.ssm_size / 2
        } else {
            self.ssm_size
        }
    }

    /// Fails, naming the field, on sizes that cannot work.
    pub fn validate(&self) -> Result<()> {
        if self.d_model == 0 {
            return Err(Error::config("d_model", "must be at least 1"));
        }
        if self.blocks == 0 || self.ssm_size == 0 || !self.ssm_size.is_multiple_of(self.blocks) {
            return Err(Error::config(
                "blocks",
                format!(
                    "must divide ssm_size {} (blocks ≥ 1, ssm_size ≥ 1), got {}",
                    self.ssm_size, self.blocks
                ),
            ));
        }
        let block = self.ssm_size / self.blocks;
        if self.conj_sym && !block.is_multiple_of(2) {
            return Err(Error::config(
                "ssm_size",
                format!(
                    "conj_sym keeps half of each block's modes: the block size ssm_size/blocks = {block} must be even"
                ),
            ));
        }
        if !(self.dt_min > 0.0 && self.dt_min <= self.dt_max && self.dt_max.is_finite()) {
            return Err(Error::config("dt_min", "need 0 < dt_min ≤ dt_max < ∞"));
        }
        if !(self.step_rescale > 0.0 && self.step_rescale.is_finite()) {
            return Err(Error::config(
                "step_rescale",
                format!("must be positive and finite, got {}", self.step_rescale),
            ));
        }
        Ok(())
    }

    /// The number of parameters of the SSM and its gating (the mixer), in
    /// checked arithmetic: Λ (2P'), B (2P'H), C (2P'H, twice if
    /// bidirectional), D (H), log Δ (P'), out1/out2 (H² + H each) for P'
    /// modes.
    pub fn param_count(&self) -> Result<usize> {
        let (h, p) = (self.d_model, self.modes());
        let directions = if self.bidirectional { 2 } else { 1 };
        let dense = match self.activation {
            S5Activation::Gelu => 0,
            S5Activation::FullGlu => 2,
            S5Activation::HalfGlu1 | S5Activation::HalfGlu2 => 1,
        };
        sum_of_products(&[
            &[3, p],
            &[2, p, h],
            &[2, directions, p, h],
            &[h],
            &[dense, h, h],
            &[dense, h],
        ])
        .ok_or_else(|| overflow("ssm_size"))
    }
}
