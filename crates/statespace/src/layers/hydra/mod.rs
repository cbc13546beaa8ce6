//! Hydra, the bidirectional quasiseparable mixer of goombalab/hydra
//! (`hydra/modules/hydra.py`, class `Hydra`), with its parameter names:
//!
//!   (z, xBC, δ) = in_proj(u)               z ∈ ℝ^E, δ ∈ ℝ^{2H}
//!   xBC = silu(centred_conv1d(xBC));  (x, B→, C→, B←, C←) = xBC
//!   Δ→ = softplus(δ[..H] + dt_bias),  Δ← = softplus(δ[H..] + dt_bias)   (clamped to dt_limit)
//!   s→ = SSD(x·Δ→, Δ→·A, B→, C→)            forward in time
//!   s← = SSD(x·Δ←, Δ←·A, B←, C←)            backward in time (on the flipped sequence)
//!   y\[t\] = s→[t − 1] + s←[t + 1] + x\[t\] · (fc_D(x\[t\]) + D)   (zero past either end)
//!   out = out_proj(rmsnorm(y) · silu(z))    A = −exp(A_log), one scalar per head
//!
//! The two passes run as one SSD call over a batch of 2·B (the official
//! code's layout), so on a GPU both directions share the fused kernels'
//! launches. The mixer is not causal: it has no recurrent view.
//!
//! Sequences are (batch, length, d_model) at the boundary.

#![allow(non_snake_case)] // A_log, D, fc_D follow the reference names

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::activation::softplus;
use burn::tensor::backend::Backend;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layers::causal_conv::CausalConv1d;
use crate::layers::init;
use crate::layers::linear::Linear;
use crate::layers::norm::GatedRmsNorm;
use crate::layers::validate;
use crate::ops::{CausalConv1dOps, NormOps, Ssd, SsdOps, ssd};
use crate::size::{overflow, sum_of_products};

/// Hyperparameters of a Hydra mixer (defaults of goombalab/hydra).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HydraConfig {
    /// Model width.
    pub d_model: usize,
    /// SSM state size N.
    pub d_state: usize,
    /// Width of the centred convolution (odd).
    pub d_conv: usize,
    /// d_inner = expand · d_model.
    pub expand: usize,
    /// Channels per head P.
    pub headdim: usize,
    /// Groups of heads sharing B and C (per direction).
    pub ngroups: usize,
    /// SSD chunk length (tiling only: the result does not depend on it).
    pub chunk_size: usize,
    /// Bounds applied to Δ after softplus.
    pub dt_limit: (f64, f64),
    /// Smallest initial Δ.
    pub dt_min: f64,
    /// Largest initial Δ.
    pub dt_max: f64,
    /// Floor of the initial Δ.
    pub dt_init_floor: f64,
    /// A learned state (heads, headdim, N) both directions start from.
    pub learnable_init_states: bool,
    /// Bias on in_proj and out_proj.
    pub bias: bool,
    /// Bias on the convolution.
    pub conv_bias: bool,
    /// ε of the gated norm.
    pub norm_eps: f64,
}

impl Default for HydraConfig {
    fn default() -> Self {
        Self {
            d_model: 0,
            d_state: 64,
            d_conv: 7,
            expand: 2,
            headdim: 64,
            ngroups: 1,
            chunk_size: 256,
            dt_limit: (0.0, f64::INFINITY),
            dt_min: 0.001,
            dt_max: 0.1,
            dt_init_floor: 1e-4,
            learnable_init_states: false,
            bias: false,
            conv_bias: true,
            norm_eps: 1e-5,
        }
    }
}

impl HydraConfig {
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

    /// Channels the convolution sees: x and both directions' B and C.
    pub fn conv_dim(&self) -> usize {
        self.d_inner() + 4 * self.ngroups * self.d_state
    }

    /// The number of parameters, in checked arithmetic (an error naming the
    /// size that overflows).
    pub fn param_count(&self) -> Result<usize> {
        let (d, n, g, k) = (self.d_model, self.d_state, self.ngroups, self.d_conv);
        let (e, heads) = validate::inner_and_heads(self.expand, d, self.headdim)?;
        let bc = sum_of_products(&[&[4, g, n]]).ok_or_else(|| overflow("d_state"))?;
        let conv = e.checked_add(bc).ok_or_else(|| overflow("d_state"))?;
        let proj = sum_of_products(&[&[2, e], &[1, bc], &[2, heads]])
            .ok_or_else(|| overflow("d_model"))?;
        let (bias, conv_bias) = (usize::from(self.bias), usize::from(self.conv_bias));
        let init = usize::from(self.learnable_init_states);
        sum_of_products(&[
            &[d, proj],
            &[bias, proj],
            &[conv, k],
            &[conv_bias, conv],
            &[3, heads],
            &[heads, e],
            &[init, e, n],
            &[e],
            &[e, d],
            &[bias, d],
        ])
        .ok_or_else(|| overflow("d_model"))
    }

    /// Checks every field, naming the first one out of its domain.
    pub fn validate(&self) -> Result<()> {
        validate::at_least_one(&[
            ("d_model", self.d_model),
            ("d_state", self.d_state),
            ("d_conv", self.d_conv),
            ("expand", self.expand),
            ("headdim", self.headdim),
            ("ngroups", self.ngroups),
            ("chunk_size", self.chunk_size),
        ])?;
        self.param_count()?;
        validate::dt_range(self.dt_min, self.dt_max)?;
        validate::norm_eps(self.norm_eps)?;
        validate::heads_and_groups(self.d_inner(), self.headdim, self.ngroups)?;
        if self.d_conv.is_multiple_of(2) {
            // PyTorch's padding K/2 would make the sequence one step longer;
            // the official module fails there too.
            return Err(Error::config(
                "d_conv",
                format!(
                    "Hydra's centred convolution needs an odd width, got {}",
                    self.d_conv
                ),
            ));
        }
        validate::dt_limit(self.dt_limit)
    }

    /// A freshly initialised mixer (goombalab/hydra's initialisation: A = −1,
    /// D = 1, zero initial states); every random value is drawn from `rng`.
    pub fn init<B: Backend>(&self, device: &B::Device, rng: &mut impl Rng) -> Result<Hydra<B>> {
        self.validate()?;
        let (d_model, d_inner, heads) = (self.d_model, self.d_inner(), self.nheads());
        let in_proj = Linear::new(
            d_model,
            2 * d_inner + 4 * self.ngroups * self.d_state + 2 * heads,
            self.bias,
            device,
            rng,
        );
        let conv1d = CausalConv1d::init(self.conv_dim(), self.d_conv, self.conv_bias, device, rng);
        let dt_bias = init::dt_bias(
            rng,
            heads,
            (self.dt_min, self.dt_max, self.dt_init_floor),
            device,
        );
        let fc_D = Linear::new(d_inner, heads, false, device, rng);
        let out_proj = Linear::new(d_inner, d_model, self.bias, device, rng);
        Ok(Hydra {
            in_proj,
            conv1d,
            dt_bias: Param::from_tensor(dt_bias),
            A_log: Param::from_tensor(Tensor::zeros([heads], device)),
            D: Param::from_tensor(Tensor::ones([heads], device)),
            fc_D,
            init_states: self.learnable_init_states.then(|| {
                Param::from_tensor(Tensor::zeros([heads, self.headdim, self.d_state], device))
            }),
            norm: GatedRmsNorm::new(d_inner, 1, self.norm_eps, true, device),
            out_proj,
            headdim: self.headdim,
            ngroups: self.ngroups,
            d_state: self.d_state,
            chunk_size: self.chunk_size,
            dt_limit_min: self.dt_limit.0,
            dt_limit_max: self.dt_limit.1,
        })
    }
}

/// The Hydra mixer.
#[derive(Module, Debug)]
pub struct Hydra<B: Backend> {
    /// d_model → (z, xBC, δ→, δ←).
    pub in_proj: Linear<B>,
    /// Centred depthwise convolution over xBC.
    pub conv1d: CausalConv1d<B>,
    /// Δ bias per head, shared by both directions.
    pub dt_bias: Param<Tensor<B, 1>>,
    /// log(−A) per head.
    pub A_log: Param<Tensor<B, 1>>,
    /// Skip D per head.
    pub D: Param<Tensor<B, 1>>,
    /// d_inner → heads: the data-dependent part of the diagonal.
    pub fc_D: Linear<B>,
    /// Learned initial state of both scans, (heads, headdim, N).
    pub init_states: Option<Param<Tensor<B, 3>>>,
    /// Gated RMSNorm over d_inner, normalising before the gate.
    pub norm: GatedRmsNorm<B>,
    /// d_inner → d_model.
    pub out_proj: Linear<B>,
    /// Channels per head.
    pub headdim: usize,
    /// Groups of heads sharing B and C.
    pub ngroups: usize,
    /// SSM state size N.
    pub d_state: usize,
    /// SSD chunk length.
    pub chunk_size: usize,
    /// Lower bound on Δ.
    pub dt_limit_min: f64,
    /// Upper bound on Δ.
    pub dt_limit_max: f64,
}

impl<B: Backend> Hydra<B> {
    /// Number of heads.
    pub fn nheads(&self) -> usize {
        self.A_log.val().dims()[0]
    }

    /// Width of the input and output.
    pub fn d_model(&self) -> usize {
        self.out_proj.weight.val().dims()[0]
    }
}

impl<B: SsdOps + CausalConv1dOps + NormOps> Hydra<B> {
    /// u (B, L, d_model) → (B, L, d_model); every output step sees the
    /// whole sequence. Fails on an input of another width.
    pub fn forward(&self, u: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let [batch, len, width] = u.dims();
        if width != self.d_model() {
            return Err(Error::shape(
                "input (batch, length, d_model)",
                &[batch, len, self.d_model()],
                &u.dims(),
            ));
        }
        let (heads, p, n, g) = (self.nheads(), self.headdim, self.d_state, self.ngroups);
        let d_inner = heads * p;
        let conv_dim = self.conv1d.channels();
        let proj = self.in_proj.forward(u)?;
        let z = proj.clone().narrow(2, 0, d_inner);
        let xbc = proj.clone().narrow(2, d_inner, conv_dim);
        let dt_raw = proj.narrow(2, d_inner + conv_dim, 2 * heads);
        let xbc = self.conv1d.forward_centred(xbc, true)?;
        let x = xbc.clone().narrow(2, 0, d_inner);
        let bc = |i: usize| {
            xbc.clone()
                .narrow(2, d_inner + i * g * n, g * n)
                .reshape([batch, len, g, n])
        };
        // Backward-direction inputs are flipped in time and stacked under
        // the forward ones: one scan over 2·B sequences.
        let stack = |fw: Tensor<B, 4>, bw: Tensor<B, 4>| Tensor::cat(vec![fw, bw.flip([1])], 0);
        let x_heads = x.clone().reshape([batch, len, heads, p]);
        let x2 = stack(x_heads.clone(), x_heads.clone());
        let (b2, c2) = (stack(bc(0), bc(2)), stack(bc(1), bc(3)));
        let dt_bias = self.dt_bias.val().reshape([1, 1, heads]);
        let dt_fw = dt_raw.clone().narrow(2, 0, heads);
        let dt_bw = dt_raw.narrow(2, heads, heads).flip([1]);
        let mut dt = softplus(Tensor::cat(vec![dt_fw, dt_bw], 0) + dt_bias, 1.0);
        if self.dt_limit_min > 0.0 || self.dt_limit_max.is_finite() {
            dt = dt.clamp(self.dt_limit_min, self.dt_limit_max);
        }
        let a = self.A_log.val().exp().neg().reshape([1, 1, heads]);
        let initial_state = self
            .init_states
            .as_ref()
            .map(|s| s.val().unsqueeze_dim::<4>(0).repeat_dim(0, 2 * batch));
        let (s, _) = ssd(Ssd {
            x: x2 * dt.clone().unsqueeze_dim::<4>(3),
            a: dt * a,
            b: b2,
            c: c2,
            chunk_size: self.chunk_size,
            initial_state,
            starts: None,
        })?; // (2B, L, H, P), each direction in its own time order
        // One step later in each direction's own time: y[t] = s[t − 1], y[0] = 0.
        let shifted = if len == 1 {
            s.zeros_like()
        } else {
            let zero = Tensor::zeros([2 * batch, 1, heads, p], (&s.device(), s.dtype()));
            Tensor::cat(vec![zero, s.narrow(1, 0, len - 1)], 1)
        };
        let y_fw = shifted.clone().narrow(0, 0, batch);
        let y_bw = shifted.narrow(0, batch, batch).flip([1]);
        let diagonal = self.fc_D.forward(x)? + self.D.val().reshape([1, 1, heads]);
        let y = y_fw + y_bw + x_heads * diagonal.unsqueeze_dim::<4>(3);
        let y = self.norm.forward(y.reshape([batch, len, d_inner]), z)?;
        self.out_proj.forward(y)
    }
}
