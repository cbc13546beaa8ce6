//! Configuration of an S4 / S4D layer, with the defaults of state-spaces/s4.

use serde::{Deserialize, Serialize};

use super::init::SsmInit;
use crate::discretize::Discretization;
use crate::error::{Error, Result};
use crate::layers::activation::Activation;
use crate::size::{overflow, sum_of_products};

/// How the convolution kernel is parameterised and computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum KernelMode {
    /// S4: diagonal plus low rank A, Cauchy kernel + FFT, bilinear rule.
    #[default]
    #[serde(alias = "s4", alias = "nplr")]
    Dplr,
    /// S4D / DSS: diagonal A, Vandermonde kernel, ZOH or bilinear rule.
    #[serde(alias = "s4d")]
    Diag,
}

/// An S4-family convolution layer (state-spaces/s4 `FFTConv`):
/// y = act(K ∗ u + D·u) with K the kernel of a structured SSM per channel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct S4Config {
    /// Model width H (number of independent SSM channels).
    pub d_model: usize,
    /// State size N of the real system; N/2 complex modes are stored.
    pub d_state: usize,
    /// Output channels per input channel (the layer maps H → channels·H).
    pub channels: usize,
    /// Adds an anti-causal kernel (sees the future).
    pub bidirectional: bool,
    /// Longest sequence the DPLR kernel is attuned to (required for `dplr`).
    pub l_max: Option<usize>,
    /// Smallest initial step size Δ.
    pub dt_min: f64,
    /// Largest initial step size Δ.
    pub dt_max: f64,
    /// Kernel parameterisation.
    pub mode: KernelMode,
    /// Initialisation of (A, B, P).
    pub init: SsmInit,
    /// Discretisation of diagonal kernels (DPLR is always bilinear).
    pub disc: Discretization,
    /// Rank of the low-rank term P (DPLR; 1, or 2 for LegT).
    pub rank: usize,
    /// Number of distinct (A, B, P) copies, shared round-robin across the
    /// H channels; `None` means H.
    pub n_ssm: Option<usize>,
    /// Output activation.
    pub activation: Activation,
}

impl Default for S4Config {
    fn default() -> Self {
        Self {
            d_model: 0,
            d_state: 64,
            channels: 1,
            bidirectional: false,
            l_max: None,
            dt_min: 0.001,
            dt_max: 0.1,
            mode: KernelMode::Dplr,
            init: SsmInit::Legs,
            disc: Discretization::Zoh,
            rank: 1,
            n_ssm: None,
            activation: Activation::Gelu,
        }
    }
}

impl S4Config {
    /// An S4 (DPLR, HiPPO-LegS) layer of width `d_model` attuned to `l_max`.
    pub fn s4(d_model: usize, l_max: usize) -> Self {
        Self {
            d_model,
            l_max: Some(l_max),
            ..Self::default()
        }
    }

    /// An S4D (diagonal, S4D-Lin, ZOH) layer of width `d_model`.
    pub fn s4d(d_model: usize) -> Self {
        Self {
            d_model,
            mode: KernelMode::Diag,
            init: SsmInit::DiagLin,
            ..Self::default()
        }
    }

    /// Number of distinct SSM copies S.
    pub fn n_ssm(&self) -> usize {
        self.n_ssm.unwrap_or(self.d_model)
    }

    /// Kernel channels: `channels`, doubled when bidirectional.
    pub fn kernel_channels(&self) -> usize {
        self.channels * if self.bidirectional { 2 } else { 1 }
    }

    /// The number of parameters, in checked arithmetic (an error naming
    /// `d_model` on overflow).
    pub fn param_count(&self) -> Result<usize> {
        let (h, nh, s) = (self.d_model, self.d_state / 2, self.n_ssm());
        let dplr = usize::from(self.mode == KernelMode::Dplr);
        sum_of_products(&[
            &[h],
            &[2, s, nh],
            &[s, nh, 2],
            &[self.kernel_channels(), h, nh, 2],
            &[dplr, self.rank, s, nh, 2],
            &[self.channels, h],
        ])
        .ok_or_else(|| overflow("d_model"))
    }

    /// Checks every field, naming the first one out of its domain.
    pub fn validate(&self) -> Result<()> {
        if self.d_model == 0 {
            return Err(Error::config("d_model", "must be at least 1"));
        }
        if self.d_state < 2 || !self.d_state.is_multiple_of(2) {
            return Err(Error::config(
                "d_state",
                format!(
                    "must be even and ≥ 2 (one of each conjugate pair of modes is kept), got {}",
                    self.d_state
                ),
            ));
        }
        if self.channels == 0 {
            return Err(Error::config("channels", "must be at least 1"));
        }
        let s = self.n_ssm();
        if s == 0 || !self.d_model.is_multiple_of(s) {
            return Err(Error::config(
                "n_ssm",
                format!("must divide d_model = {}, got {s}", self.d_model),
            ));
        }
        if !(self.dt_min.is_finite()
            && self.dt_min > 0.0
            && self.dt_max.is_finite()
            && self.dt_max >= self.dt_min)
        {
            return Err(Error::config(
                "dt_min/dt_max",
                format!(
                    "need 0 < dt_min ≤ dt_max, finite; got {} and {}",
                    self.dt_min, self.dt_max
                ),
            ));
        }
        if self.mode == KernelMode::Dplr {
            if !(1..=2).contains(&self.rank) {
                return Err(Error::config(
                    "rank",
                    format!("DPLR rank must be 1 or 2, got {}", self.rank),
                ));
            }
            match self.l_max {
                Some(l) if l >= 1 => {}
                _ => {
                    return Err(Error::config(
                        "l_max",
                        "mode dplr needs l_max ≥ 1: its C̃ = C(I − Āᴸ) is attuned to that length",
                    ));
                }
            }
        }
        self.init.check_rank(self.rank, self.mode)?;
        if self.d_state > crate::hippo::MAX_N {
            return Err(Error::config(
                "d_state",
                format!(
                    "must be at most {}, got {}",
                    crate::hippo::MAX_N,
                    self.d_state
                ),
            ));
        }
        self.param_count()?;
        Ok(())
    }
}
