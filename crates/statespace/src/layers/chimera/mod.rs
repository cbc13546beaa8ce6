//! Chimera (Behrouz, Santacatterina, Zabih 2024, arXiv 2406.04320): stacks
//! of input-dependent 2-D SSMs over time × variates. Each block reads the
//! variates both ways (the 2-D SSM is causal along the variate order, which
//! has no meaning) and gates the sum:
//!
//!   u = in_proj(x), g = gate(x)               x (B, T, V, D) → (B, T, V, E)
//!   y = (SSM2D→(u) + flip_V(SSM2D←(flip_V(u)))) · silu(g)
//!   out = out_proj(y)                         E → D
//!
//! and the stack is h ← h + block(LayerNorm(h)). There is no official code:
//! the 2-D SSM is tested against a loop of its recurrence in f64
//! (tests/suite/chimera_recurrence.rs), and docs/ARCHITECTURE.md lists what the
//! paper leaves open and what was chosen.

mod ssm2d;

pub use ssm2d::Ssm2d;

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::activation::silu;
use burn::tensor::backend::Backend;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layers::linear::Linear;
use crate::layers::norm::LayerNorm;
use crate::layers::validate;
use crate::ops::{MatmulOps, NormOps, Scan2dOps};
use crate::size::{overflow, sum_of_products};

/// Hyperparameters of a Chimera stack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ChimeraConfig {
    /// Feature width D.
    pub d_model: usize,
    /// Blocks.
    pub n_layers: usize,
    /// States per axis N.
    pub d_state: usize,
    /// E = expand · D.
    pub expand: usize,
    /// Rank of the Δ projections; `None` means ⌈D / 16⌉.
    pub dt_rank: Option<usize>,
    /// Smallest initial Δ.
    pub dt_min: f64,
    /// Largest initial Δ.
    pub dt_max: f64,
}

impl Default for ChimeraConfig {
    fn default() -> Self {
        Self {
            d_model: 0,
            n_layers: 2,
            d_state: 8,
            expand: 2,
            dt_rank: None,
            dt_min: 0.001,
            dt_max: 0.1,
        }
    }
}

impl ChimeraConfig {
    /// A stack of width `d_model` with the other defaults.
    pub fn new(d_model: usize) -> Self {
        Self {
            d_model,
            ..Self::default()
        }
    }

    /// E = expand · D.
    pub fn d_inner(&self) -> usize {
        self.expand * self.d_model
    }

    /// The Δ projections' rank.
    pub fn dt_rank(&self) -> usize {
        self.dt_rank.unwrap_or(self.d_model.div_ceil(16))
    }

    /// Checks every field, naming the first one out of its domain.
    pub fn validate(&self) -> Result<()> {
        validate::at_least_one(&[
            ("d_model", self.d_model),
            ("n_layers", self.n_layers),
            ("d_state", self.d_state),
            ("expand", self.expand),
            ("dt_rank", self.dt_rank()),
        ])?;
        validate::dt_range(self.dt_min, self.dt_max)?;
        self.param_count()?;
        Ok(())
    }

    /// The number of parameters, in checked arithmetic (an error naming
    /// `d_model` on overflow).
    pub fn param_count(&self) -> Result<usize> {
        let (d, n, r) = (self.d_model, self.d_state, self.dt_rank());
        let e = self
            .expand
            .checked_mul(d)
            .ok_or_else(|| overflow("expand"))?;
        let x_proj = r
            .checked_mul(2)
            .and_then(|x| x.checked_add(n.checked_mul(4)?))
            .ok_or_else(|| overflow("d_state"))?;
        // x_proj, two Δ maps with biases, A₁ … A₄, D.
        let ssm = sum_of_products(&[&[e, x_proj], &[2, r, e], &[2, e], &[4, e, n], &[e]])
            .ok_or_else(|| overflow("d_model"))?;
        // Two directions, in_proj, gate, out_proj, the block's LayerNorm.
        let block = sum_of_products(&[&[2, ssm], &[3, d, e], &[2, d]])
            .ok_or_else(|| overflow("d_model"))?;
        block
            .checked_mul(self.n_layers)
            .ok_or_else(|| overflow("n_layers"))
    }

    /// A freshly initialised stack; every random value is drawn from `rng`.
    pub fn init<B: Backend>(&self, device: &B::Device, rng: &mut impl Rng) -> Result<Chimera<B>> {
        self.validate()?;
        let (d, e) = (self.d_model, self.d_inner());
        let blocks = (0..self.n_layers)
            .map(|_| ChimeraBlock {
                norm: LayerNorm::new(d, 1e-5, device),
                in_proj: Linear::new(d, e, false, device, rng),
                gate: Linear::new(d, e, false, device, rng),
                forward: Ssm2d::init(self, device, rng),
                backward: Ssm2d::init(self, device, rng),
                out_proj: Linear::new(e, d, false, device, rng),
            })
            .collect();
        Ok(Chimera { blocks })
    }
}

/// One Chimera block (pre-norm, residual).
#[derive(Module, Debug)]
pub struct ChimeraBlock<B: Backend> {
    /// LayerNorm of the block input.
    pub norm: LayerNorm<B>,
    /// D → E.
    pub in_proj: Linear<B>,
    /// D → E, the gate.
    pub gate: Linear<B>,
    /// The 2-D SSM along the variate order.
    pub forward: Ssm2d<B>,
    /// The 2-D SSM against it.
    pub backward: Ssm2d<B>,
    /// E → D.
    pub out_proj: Linear<B>,
}

/// A Chimera stack over (batch, time, variates, D) features.
#[derive(Module, Debug)]
pub struct Chimera<B: Backend> {
    /// The blocks.
    pub blocks: Vec<ChimeraBlock<B>>,
}

impl<B: MatmulOps + NormOps + Scan2dOps> ChimeraBlock<B> {
    /// x (B, T, V, D) → the block's output (B, T, V, D), before the residual.
    pub fn forward(&self, x: Tensor<B, 4>) -> Result<Tensor<B, 4>> {
        let h = self.norm.forward(x)?;
        let u = self.in_proj.forward(h.clone())?;
        let y = self.forward.forward(u.clone())? + self.backward.forward(u.flip([2]))?.flip([2]);
        self.out_proj.forward(y * silu(self.gate.forward(h)?))
    }
}

impl<B: MatmulOps + NormOps + Scan2dOps> Chimera<B> {
    /// x (B, T, V, D) → (B, T, V, D): causal along time, both ways along
    /// the variates.
    pub fn forward(&self, mut x: Tensor<B, 4>) -> Result<Tensor<B, 4>> {
        let [b, t, v, d] = x.dims();
        let width = self
            .blocks
            .first()
            .map_or(d, |k| k.norm.weight.val().dims()[0]);
        if d != width {
            return Err(Error::shape(
                "Chimera input (batch, time, variates, d_model)",
                &[b, t, v, width],
                &[b, t, v, d],
            ));
        }
        for block in &self.blocks {
            x = x.clone() + block.forward(x)?;
        }
        Ok(x)
    }
}
