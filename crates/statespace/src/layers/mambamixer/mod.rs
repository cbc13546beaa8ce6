//! MambaMixer (Behrouz, Santacatterina, Zabih 2024, arXiv 2403.19888 v1):
//! selective token mixers along one axis, bidirectional selective channel
//! mixers along another, and a weighted average of all earlier outputs in
//! front of every mixer. TSM2, its time-series model, mixes time (causal)
//! and variates (bidirectional): [`crate::models::tsm2`].
//!
//! The paper has no official code; the module is tested against a direct
//! loop of its equations in f64 (tests/suite/mambamixer_recurrence.rs), and
//! docs/ARCHITECTURE.md lists every choice the paper leaves open.

mod averaging;
mod selective;

pub use averaging::WeightedSum;
pub use selective::{SelectiveDirection, SelectiveMixer};

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layers::norm::LayerNorm;
use crate::layers::validate;
use crate::ops::{CausalConv1dOps, NormOps, SelectiveScanOps};
use crate::size::{overflow, sum_of_products};

/// Hyperparameters of a MambaMixer stack (the S6 defaults of mamba_ssm).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MambaMixerConfig {
    /// Feature width D.
    pub d_model: usize,
    /// Layers: each a token mixer then a channel mixer.
    pub n_layers: usize,
    /// SSM state size N.
    pub d_state: usize,
    /// Width of the causal convolutions.
    pub d_conv: usize,
    /// E = expand · D.
    pub expand: usize,
    /// Rank of the Δ projection; `None` means ⌈D / 16⌉.
    pub dt_rank: Option<usize>,
    /// Smallest initial Δ.
    pub dt_min: f64,
    /// Largest initial Δ.
    pub dt_max: f64,
    /// Floor of the initial Δ.
    pub dt_init_floor: f64,
}

impl Default for MambaMixerConfig {
    fn default() -> Self {
        Self {
            d_model: 0,
            n_layers: 2,
            d_state: 16,
            d_conv: 4,
            expand: 2,
            dt_rank: None,
            dt_min: 0.001,
            dt_max: 0.1,
            dt_init_floor: 1e-4,
        }
    }
}

impl MambaMixerConfig {
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

    /// The Δ projection rank.
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
        validate::conv_width(self.d_conv)?;
        validate::dt_range(self.dt_min, self.dt_max)?;
        self.param_count()?;
        Ok(())
    }

    /// The number of parameters, in checked arithmetic (an error naming
    /// `d_model` on overflow).
    pub fn param_count(&self) -> Result<usize> {
        let (d, n, k, r, l) = (
            self.d_model,
            self.d_state,
            self.d_conv,
            self.dt_rank(),
            self.n_layers,
        );
        let e = self
            .expand
            .checked_mul(d)
            .ok_or_else(|| overflow("expand"))?;
        let x_proj = r
            .checked_add(n.saturating_mul(2))
            .ok_or_else(|| overflow("d_state"))?;
        // in_proj, conv (+ bias), x_proj, dt_proj (+ bias), A_log, D.
        let direction = sum_of_products(&[
            &[d, e],
            &[e, k],
            &[e],
            &[d, x_proj],
            &[r, e],
            &[e],
            &[e, n],
            &[e],
        ])
        .ok_or_else(|| overflow("d_model"))?;
        // Per layer: 3 directions, 2 gates, 2 output maps, 2 LayerNorms and
        // the 4ℓ + 1 averaging weights; then the output sum (2L + 2).
        let per_layer = sum_of_products(&[&[3, direction], &[4, d, e], &[4, d]])
            .ok_or_else(|| overflow("d_model"))?;
        let weights = 2usize
            .saturating_mul(l)
            .saturating_mul(l)
            .saturating_add(5usize.saturating_mul(l))
            .saturating_add(2);
        per_layer
            .checked_mul(l)
            .and_then(|p| p.checked_add(weights))
            .ok_or_else(|| overflow("n_layers"))
    }

    /// A freshly initialised stack; every random value is drawn from `rng`.
    pub fn init<B: Backend>(
        &self,
        device: &B::Device,
        rng: &mut impl Rng,
    ) -> Result<MambaMixer<B>> {
        self.validate()?;
        let layers = (1..=self.n_layers)
            .map(|l| MixerLayer {
                token_norm: LayerNorm::new(self.d_model, 1e-5, device),
                token: SelectiveMixer::init(self, false, device, rng),
                channel_norm: LayerNorm::new(self.d_model, 1e-5, device),
                channel: SelectiveMixer::init(self, true, device, rng),
                token_input: WeightedSum::residual(l, l, device),
                channel_input: WeightedSum::residual(l + 1, l, device),
            })
            .collect();
        let output = WeightedSum::residual(self.n_layers + 1, self.n_layers + 1, device);
        Ok(MambaMixer { layers, output })
    }
}

/// One MambaMixer layer.
#[derive(Module, Debug)]
pub struct MixerLayer<B: Backend> {
    /// LayerNorm in front of the token mixer.
    pub token_norm: LayerNorm<B>,
    /// Selective token mixer (causal along the token axis).
    pub token: SelectiveMixer<B>,
    /// LayerNorm in front of the channel mixer.
    pub channel_norm: LayerNorm<B>,
    /// Selective channel mixer (bidirectional along the channel axis).
    pub channel: SelectiveMixer<B>,
    /// α, β of eq. 19.
    pub token_input: WeightedSum<B>,
    /// θ, γ of eq. 20.
    pub channel_input: WeightedSum<B>,
}

/// A MambaMixer stack over (batch, channels, tokens, D) features.
#[derive(Module, Debug)]
pub struct MambaMixer<B: Backend> {
    /// The layers.
    pub layers: Vec<MixerLayer<B>>,
    /// The weighted sum of every output that the stack returns.
    pub output: WeightedSum<B>,
}

impl<B: SelectiveScanOps + CausalConv1dOps + NormOps> MambaMixer<B> {
    /// x (B, V, P, D) → (B, V, P, D): token mixers run along P (causal)
    /// for each of the V channels, channel mixers along V (both ways) for
    /// each of the P tokens.
    pub fn forward(&self, x: Tensor<B, 4>) -> Result<Tensor<B, 4>> {
        let [b, v, p, d] = x.dims();
        let width = self
            .layers
            .first()
            .map_or(d, |l| l.token_norm.weight.val().dims()[0]);
        if d != width || v == 0 || p == 0 {
            return Err(Error::shape(
                "MambaMixer input (batch, channels ≥ 1, tokens ≥ 1, d_model)",
                &[b, v.max(1), p.max(1), width],
                &[b, v, p, d],
            ));
        }
        let mut tokens = vec![x.clone()];
        let mut channels = vec![x];
        for layer in &self.layers {
            let h = layer.token_input.apply(&tokens, &channels);
            let h = layer.token_norm.forward(h)?.reshape([b * v, p, d]);
            tokens.push(layer.token.forward(h)?.reshape([b, v, p, d]));
            let h = layer.channel_input.apply(&tokens, &channels);
            let h = layer
                .channel_norm
                .forward(h)?
                .swap_dims(1, 2)
                .reshape([b * p, v, d]);
            let y = layer
                .channel
                .forward(h)?
                .reshape([b, p, v, d])
                .swap_dims(1, 2);
            channels.push(y);
        }
        Ok(self.output.apply(&tokens, &channels))
    }
}
