//! The Hyena operator's settings, by safari's `HyenaOperator` /
//! `HyenaFilter` argument names.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layers::activation::Activation;
use crate::size::{overflow, sum_of_products};

/// Hyena of `order` (Poli et al.): an input projection to (order + 1)
/// streams, a short causal convolution, then order − 1 rounds of gating and
/// a long convolution with an implicit filter (an MLP with sine
/// activations on a positional embedding, exponentially decayed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HyenaConfig {
    /// Model width d.
    pub d_model: usize,
    /// Longest input; the filter and its positional embedding have l_max
    /// positions.
    pub l_max: usize,
    /// Depth of the recurrence (≥ 2).
    pub order: usize,
    /// Width of the filter MLP.
    pub filter_order: usize,
    /// Positional embedding width: time, then (emb_dim − 1)/2 cosines and
    /// sines (odd, ≥ 3).
    pub emb_dim: usize,
    /// Taps of the short depthwise convolution.
    pub short_filter_order: usize,
    /// Hidden linear layers of the filter MLP (each followed by the sine).
    pub num_inner_mlps: usize,
    /// Initial frequency of the filter's sine activation.
    pub w: f64,
    /// The filter's per-channel bias term (else zero).
    pub bias: bool,
    /// The exponential decay of the filter over time.
    pub modulate: bool,
    /// Added to the decay.
    pub shift: f64,
    /// Decay rates from ln(target)/slow_decay_pct to ln(target)/fast_decay_pct.
    pub fast_decay_pct: f64,
    pub slow_decay_pct: f64,
    pub target: f64,
    /// Each filter position divided by its L1 norm over channels.
    pub normalized: bool,
    /// Gate by the outer product summed over the gate's channels,
    /// v ← v · Σ_c x_i\[c\], instead of elementwise.
    pub outer_mixing: bool,
    /// A learned (1 × 1 per head) scale after each long convolution.
    pub post_order_ffn: bool,
    /// Activation before out_proj.
    pub activation: Activation,
}

impl Default for HyenaConfig {
    fn default() -> Self {
        Self::new(64, 1024)
    }
}

impl HyenaConfig {
    /// safari's defaults (filter_order 64, emb_dim 3, short filter 3, two
    /// inner MLPs, w 1, bias, modulation with decays 0.3 / 1.5 to 0.01).
    pub fn new(d_model: usize, l_max: usize) -> Self {
        Self {
            d_model,
            l_max,
            order: 2,
            filter_order: 64,
            emb_dim: 3,
            short_filter_order: 3,
            num_inner_mlps: 2,
            w: 1.0,
            bias: true,
            modulate: true,
            shift: 0.0,
            fast_decay_pct: 0.3,
            slow_decay_pct: 1.5,
            target: 1e-2,
            normalized: false,
            outer_mixing: false,
            post_order_ffn: false,
            activation: Activation::Identity,
        }
    }

    /// Channels of the filter: d·(order − 1).
    pub fn filter_channels(&self) -> usize {
        self.d_model * self.order.saturating_sub(1)
    }

    /// Fails, naming the field, on settings that cannot work.
    pub fn validate(&self) -> Result<()> {
        for (key, value) in [
            ("d_model", self.d_model),
            ("l_max", self.l_max),
            ("filter_order", self.filter_order),
            ("short_filter_order", self.short_filter_order),
        ] {
            if value == 0 {
                return Err(Error::config(key, "must be at least 1"));
            }
        }
        if self.order < 2 {
            return Err(Error::config(
                "order",
                format!(
                    "Hyena needs order ≥ 2 (one long convolution), got {}",
                    self.order
                ),
            ));
        }
        if self.emb_dim < 3 || self.emb_dim.is_multiple_of(2) {
            return Err(Error::config(
                "emb_dim",
                format!(
                    "must be odd and ≥ 3 (time, then cosine and sine bands), got {}",
                    self.emb_dim
                ),
            ));
        }
        if !(self.target > 0.0 && self.fast_decay_pct > 0.0 && self.slow_decay_pct > 0.0) {
            return Err(Error::config(
                "target",
                "target, fast_decay_pct and slow_decay_pct must be positive",
            ));
        }
        Ok(())
    }

    /// The number of parameters (the buffers t and δ included, as the
    /// module holds them), in checked arithmetic: in_proj d → (order+1)·d,
    /// the short filter, out_proj, the filter MLP, its bias, z, t, δ, and
    /// the post-order scales; call after [`Self::validate`].
    pub fn param_count(&self) -> Result<usize> {
        let (d, fo, l) = (self.d_model, self.filter_order, self.l_max);
        let streams = self.order.checked_add(1).ok_or_else(|| overflow("order"))?;
        let scales = if self.post_order_ffn { self.order } else { 0 };
        let n = self.num_inner_mlps;
        sum_of_products(&[
            &[d, streams, d],
            &[streams, d],
            &[self.short_filter_order, streams, d],
            &[streams, d],
            &[d, d],
            &[d],
            &[self.emb_dim, fo],
            &[fo],
            &[n, fo, fo],
            &[n, fo],
            &[fo, d, self.order - 1],
            &[fo],
            &[2, d, self.order - 1],
            &[self.emb_dim, l],
            &[l],
            &[scales],
        ])
        .ok_or_else(|| overflow("l_max"))
    }
}
