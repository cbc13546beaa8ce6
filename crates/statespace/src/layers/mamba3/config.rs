//! Hyperparameters of a Mamba-3 mixer and its initialisation.

#![allow(non_snake_case)]

use burn::module::Param;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::Mamba3;
use crate::error::{Error, Result};
use crate::layers::init;
use crate::layers::linear::Linear;
use crate::layers::norm::{GatedRmsNorm, RmsNorm};
use crate::layers::validate;
use crate::size::{overflow, sum_of_products};

/// Hyperparameters of a Mamba-3 mixer (defaults and names of mamba_ssm's
/// `Mamba3`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mamba3Config {
    /// Model width.
    pub d_model: usize,
    /// State size N (even: rotary angles act on pairs).
    pub d_state: usize,
    /// d_inner = expand · d_model.
    pub expand: usize,
    /// Channels per head P.
    pub headdim: usize,
    /// Groups of heads sharing B and C.
    pub ngroups: usize,
    /// Fraction of the state rotated: 0.5 or 1.0.
    pub rope_fraction: f64,
    /// Smallest initial Δ.
    pub dt_min: f64,
    /// Largest initial Δ.
    pub dt_max: f64,
    /// Floor of the initial Δ.
    pub dt_init_floor: f64,
    /// Lower bound of −A.
    pub A_floor: f64,
    /// Gated RMSNorm over each head before out_proj (else y·silu(z)).
    pub is_outproj_norm: bool,
    /// Multi-input multi-output state update of rank `mimo_rank`.
    pub is_mimo: bool,
    /// Rank R of the MIMO update (ignored for SISO, where R = 1).
    pub mimo_rank: usize,
    /// Chunk length of the scan (tiling only: the result does not depend on it).
    pub chunk_size: usize,
}

impl Default for Mamba3Config {
    fn default() -> Self {
        Self {
            d_model: 0,
            d_state: 128,
            expand: 2,
            headdim: 64,
            ngroups: 1,
            rope_fraction: 0.5,
            dt_min: 0.001,
            dt_max: 0.1,
            dt_init_floor: 1e-4,
            A_floor: 1e-4,
            is_outproj_norm: false,
            is_mimo: false,
            mimo_rank: 4,
            chunk_size: 64,
        }
    }
}

impl Mamba3Config {
    /// A mixer of width `d_model` with the other defaults.
    pub fn new(d_model: usize) -> Self {
        Self {
            d_model,
            ..Self::default()
        }
    }

    /// expand · d_model.
    pub fn d_inner(&self) -> usize {
        self.expand * self.d_model
    }

    /// d_inner / headdim.
    pub fn nheads(&self) -> usize {
        self.d_inner() / self.headdim.max(1)
    }

    /// R: `mimo_rank` for MIMO, 1 for SISO.
    pub fn rank(&self) -> usize {
        if self.is_mimo { self.mimo_rank } else { 1 }
    }

    /// The number of rotary angles S: half of ⌊N · rope_fraction⌋ rounded
    /// down to even.
    pub fn num_rope_angles(&self) -> usize {
        let rotated = (self.d_state as f64 * self.rope_fraction) as usize;
        (rotated - rotated % 2) / 2
    }

    /// in_proj's output width: z, x, B, C, Δ, A, λ and the angles, in
    /// checked arithmetic.
    pub fn d_in_proj(&self) -> Result<usize> {
        let (e, heads) = validate::inner_and_heads(self.expand, self.d_model, self.headdim)?;
        let bc = sum_of_products(&[&[2, self.d_state, self.ngroups, self.rank()]])
            .ok_or_else(|| overflow("d_state"))?;
        sum_of_products(&[&[2, e], &[bc], &[3, heads], &[self.num_rope_angles()]])
            .ok_or_else(|| overflow("d_model"))
    }

    /// The number of parameters, in checked arithmetic (an error naming the
    /// size that overflows).
    pub fn param_count(&self) -> Result<usize> {
        let d = self.d_model;
        let (e, heads) = validate::inner_and_heads(self.expand, d, self.headdim)?;
        let (n, r) = (self.d_state, self.rank());
        let mimo = usize::from(self.is_mimo);
        sum_of_products(&[
            &[d, self.d_in_proj()?],
            &[2, heads],
            &[2, heads, r, n],
            &[2, n],
            &[mimo, 3, heads, r, self.headdim],
            &[usize::from(self.is_outproj_norm), e],
            &[e, d],
        ])
        .ok_or_else(|| overflow("d_model"))
    }

    /// Checks every field, naming the first one out of its domain.
    pub fn validate(&self) -> Result<()> {
        validate::at_least_one(&[
            ("d_model", self.d_model),
            ("d_state", self.d_state),
            ("expand", self.expand),
            ("headdim", self.headdim),
            ("ngroups", self.ngroups),
            ("mimo_rank", self.mimo_rank),
            ("chunk_size", self.chunk_size),
        ])?;
        self.param_count()?;
        validate::dt_range(self.dt_min, self.dt_max)?;
        validate::heads_and_groups(self.d_inner(), self.headdim, self.ngroups)?;
        if !self.d_state.is_multiple_of(2) {
            return Err(Error::config(
                "d_state",
                format!(
                    "rotary angles act on pairs: must be even, got {}",
                    self.d_state
                ),
            ));
        }
        if self.rope_fraction != 0.5 && self.rope_fraction != 1.0 {
            return Err(Error::config(
                "rope_fraction",
                format!(
                    "must be 0.5 or 1.0 (as mamba_ssm), got {}",
                    self.rope_fraction
                ),
            ));
        }
        if self.num_rope_angles() == 0 {
            return Err(Error::config(
                "d_state",
                "too small for one rotary angle at this rope_fraction",
            ));
        }
        if !(self.A_floor.is_finite() && self.A_floor >= 0.0) {
            return Err(Error::config(
                "A_floor",
                format!("must be finite and ≥ 0, got {}", self.A_floor),
            ));
        }
        Ok(())
    }

    /// A freshly initialised mixer (mamba_ssm's initialisation: B and C
    /// biases 1, D 1, mimo_x and mimo_o 1/R, mimo_z 1); every random value
    /// is drawn from `rng`.
    pub fn init<B: Backend>(&self, device: &B::Device, rng: &mut impl Rng) -> Result<Mamba3<B>> {
        self.validate()?;
        let (d_model, d_inner, heads) = (self.d_model, self.d_inner(), self.nheads());
        let (n, r, p) = (self.d_state, self.rank(), self.headdim);
        let in_proj = Linear::new(d_model, self.d_in_proj()?, false, device, rng);
        let dt_bias = init::dt_bias(
            rng,
            heads,
            (self.dt_min, self.dt_max, self.dt_init_floor),
            device,
        );
        let out_proj = Linear::new(d_inner, d_model, false, device, rng);
        let filled =
            |value: f64| Param::from_tensor(Tensor::<B, 3>::full([heads, r, p], value, device));
        Ok(Mamba3 {
            in_proj,
            dt_bias: Param::from_tensor(dt_bias),
            B_bias: Param::from_tensor(Tensor::ones([heads, r, n], device)),
            C_bias: Param::from_tensor(Tensor::ones([heads, r, n], device)),
            B_norm: RmsNorm::new(n, 1e-5, device),
            C_norm: RmsNorm::new(n, 1e-5, device),
            D: Param::from_tensor(Tensor::ones([heads], device)),
            mimo_x: self.is_mimo.then(|| filled(1.0 / r as f64)),
            mimo_z: self.is_mimo.then(|| filled(1.0)),
            mimo_o: self.is_mimo.then(|| filled(1.0 / r as f64)),
            norm: self
                .is_outproj_norm
                .then(|| GatedRmsNorm::new(d_inner, heads, 1e-5, true, device)),
            out_proj,
            headdim: p,
            ngroups: self.ngroups,
            d_state: n,
            mimo_rank: r,
            num_rope_angles: self.num_rope_angles(),
            a_floor: self.A_floor,
            chunk_size: self.chunk_size,
        })
    }
}
