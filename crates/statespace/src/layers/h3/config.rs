//! The H3 layer's settings, by safari's `H3` argument names.

use serde::{Deserialize, Serialize};

use crate::discretize::Discretization;
use crate::error::{Error, Result};
use crate::size::{overflow, sum_of_products};

/// H3 (Dao, Fu et al., "Hungry Hungry Hippos") over `d_model` channels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct H3Config {
    /// Model width d.
    pub d_model: usize,
    /// State size N: taps of the shift SSM, twice the diagonal SSM's
    /// complex modes (even).
    pub d_state: usize,
    /// Channels per head p (H = d / p heads; the diagonal SSM runs on the
    /// p × p outer products of each head).
    pub head_dim: usize,
    /// Discretisation of the diagonal SSM.
    pub disc: Discretization,
    /// Range of the initial step Δ (log-uniform).
    pub dt_min: f64,
    pub dt_max: f64,
}

impl Default for H3Config {
    fn default() -> Self {
        Self::new(64)
    }
}

impl H3Config {
    /// safari's defaults: N 64, head dim 1, bilinear, Δ ∈ [0.001, 0.1].
    pub fn new(d_model: usize) -> Self {
        Self {
            d_model,
            d_state: 64,
            head_dim: 1,
            disc: Discretization::Bilinear,
            dt_min: 1e-3,
            dt_max: 1e-1,
        }
    }

    /// Heads H = d / p.
    pub fn heads(&self) -> usize {
        self.d_model / self.head_dim.max(1)
    }

    /// Fails, naming the field, on sizes that cannot work.
    pub fn validate(&self) -> Result<()> {
        if self.d_model == 0 {
            return Err(Error::config("d_model", "must be at least 1"));
        }
        if self.d_state < 2 || self.d_state % 2 == 1 {
            return Err(Error::config(
                "d_state",
                format!(
                    "must be even and ≥ 2 (N/2 complex modes), got {}",
                    self.d_state
                ),
            ));
        }
        if self.head_dim == 0 || !self.d_model.is_multiple_of(self.head_dim) {
            return Err(Error::config(
                "head_dim",
                format!(
                    "must divide d_model {}, got {}",
                    self.d_model, self.head_dim
                ),
            ));
        }
        if !(self.dt_min > 0.0 && self.dt_min <= self.dt_max) {
            return Err(Error::config("dt_min", "need 0 < dt_min ≤ dt_max"));
        }
        Ok(())
    }

    /// The number of parameters, in checked arithmetic: the four d × d
    /// projections with biases, the shift SSM's B and C (d × N each) and
    /// skip (d), the diagonal SSM's log Δ and skip (H) and its A, B, C
    /// (3·H·N reals); call after [`Self::validate`].
    pub fn param_count(&self) -> Result<usize> {
        let (d, n, h) = (self.d_model, self.d_state, self.heads());
        sum_of_products(&[&[4, d, d], &[4, d], &[2, d, n], &[d], &[2, h], &[3, h, n]])
            .ok_or_else(|| overflow("d_model"))
    }
}
