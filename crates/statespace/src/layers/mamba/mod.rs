//! The Mamba (S6) mixer of state-spaces/mamba `Mamba` / transformers
//! `MambaMixer`, with their parameter names:
//!
//!   (x, z) = in_proj(h)                      x, z ∈ ℝ^{d_inner}
//!   x = silu(causal_conv1d(x))
//!   (δ, B, C) = x_proj(x)                    δ ∈ ℝ^{dt_rank}, B, C ∈ ℝ^N
//!   Δ = softplus(dt_proj.weight · δ + dt_proj.bias)
//!   y = selective_scan(x, Δ, A = −exp(A_log), B, C, D) · silu(z)
//!   out = out_proj(y)
//!
//! Sequences are (batch, length, d_model) at the boundary.

#![allow(non_snake_case)] // A_log, D follow the reference names

use crate::layers::linear::Linear;
use crate::random::uniform;
use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layers::causal_conv::CausalConv1d;
use crate::layers::init::{dt_projection, s4d_real_a_log};
use crate::layers::mixer::StatefulMixer;
use crate::layers::validate;
use crate::ops::{CausalConv1dOps, SelectiveScan, SelectiveScanOps, selective_scan};
use crate::size::{overflow, sum_of_products};

/// Hyperparameters of a Mamba mixer (defaults of mamba_ssm).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MambaConfig {
    /// Model width.
    pub d_model: usize,
    /// SSM state size N per channel.
    pub d_state: usize,
    /// Width of the causal convolution.
    pub d_conv: usize,
    /// d_inner = expand · d_model.
    pub expand: usize,
    /// Rank of the Δ projection; `None` means ⌈d_model / 16⌉.
    pub dt_rank: Option<usize>,
    /// Smallest initial Δ.
    pub dt_min: f64,
    /// Largest initial Δ.
    pub dt_max: f64,
    /// Floor of the initial Δ.
    pub dt_init_floor: f64,
    /// Bias on the convolution.
    pub conv_bias: bool,
    /// Bias on in_proj and out_proj.
    pub bias: bool,
}

impl Default for MambaConfig {
    fn default() -> Self {
        Self {
            d_model: 0,
            d_state: 16,
            d_conv: 4,
            expand: 2,
            dt_rank: None,
            dt_min: 0.001,
            dt_max: 0.1,
            dt_init_floor: 1e-4,
            conv_bias: true,
            bias: false,
        }
    }
}

impl MambaConfig {
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

    /// The Δ projection rank.
    pub fn dt_rank(&self) -> usize {
        self.dt_rank.unwrap_or(self.d_model.div_ceil(16))
    }

    /// The number of parameters, in checked arithmetic (an error naming
    /// `d_model` on overflow); call after [`Self::validate`].
    pub fn param_count(&self) -> Result<usize> {
        let (d, n, k, r) = (self.d_model, self.d_state, self.d_conv, self.dt_rank());
        let e = self
            .expand
            .checked_mul(d)
            .ok_or_else(|| overflow("expand"))?;
        let (bias, conv_bias) = (usize::from(self.bias), usize::from(self.conv_bias));
        let x_proj = r
            .checked_add(2usize.saturating_mul(n))
            .ok_or_else(|| overflow("d_state"))?;
        sum_of_products(&[
            &[d, 2, e],
            &[bias, 2, e],
            &[e, k],
            &[conv_bias, e],
            &[e, x_proj],
            &[r, e],
            &[e],
            &[e, n],
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
            ("expand", self.expand),
            ("dt_rank", self.dt_rank()),
        ])?;
        validate::conv_width(self.d_conv)?;
        validate::dt_range(self.dt_min, self.dt_max)?;
        if self.expand.checked_mul(self.d_model).is_none() {
            return Err(overflow("expand"));
        }
        self.param_count()?;
        Ok(())
    }

    /// A freshly initialised mixer (mamba_ssm's initialisation: S4D-Real
    /// A, D = 1, Δ log-uniform in [dt_min, dt_max] through the bias).
    /// Every random value is drawn from `rng`.
    pub fn init<B: Backend>(&self, device: &B::Device, rng: &mut impl Rng) -> Result<Mamba<B>> {
        self.validate()?;
        let (d_model, d_inner, n, r) = (self.d_model, self.d_inner(), self.d_state, self.dt_rank());
        let in_proj = Linear::new(d_model, 2 * d_inner, self.bias, device, rng);
        let dt_proj = dt_projection(
            r,
            &[(d_inner, self.dt_min, self.dt_max)],
            self.dt_init_floor,
            device,
            rng,
        );
        let a_log = s4d_real_a_log(d_inner, n, device);
        let fan_in = self.d_conv as f64;
        let bound = 1.0 / fan_in.sqrt();
        let conv1d = CausalConv1d {
            weight: Param::from_tensor(uniform(
                rng,
                [d_inner, 1, self.d_conv],
                -bound,
                bound,
                device,
            )),
            bias: self
                .conv_bias
                .then(|| Param::from_tensor(uniform(rng, [d_inner], -bound, bound, device))),
        };
        let x_proj = Linear::new(d_inner, r + 2 * n, false, device, rng);
        let out_proj = Linear::new(d_inner, d_model, self.bias, device, rng);
        Ok(Mamba {
            in_proj,
            conv1d,
            x_proj,
            dt_proj,
            A_log: Param::from_tensor(a_log),
            D: Param::from_tensor(Tensor::ones([d_inner], device)),
            out_proj,
        })
    }
}

/// The Mamba mixer.
#[derive(Module, Debug)]
pub struct Mamba<B: Backend> {
    /// d_model → 2·d_inner (x and z).
    pub in_proj: Linear<B>,
    /// Causal depthwise convolution over x.
    pub conv1d: CausalConv1d<B>,
    /// d_inner → dt_rank + 2N (δ, B, C).
    pub x_proj: Linear<B>,
    /// dt_rank → d_inner; its bias is the Δ bias.
    pub dt_proj: Linear<B>,
    /// log(−A), (d_inner, N).
    pub A_log: Param<Tensor<B, 2>>,
    /// Skip D, (d_inner).
    pub D: Param<Tensor<B, 1>>,
    /// d_inner → d_model.
    pub out_proj: Linear<B>,
}

/// The recurrent state of a Mamba mixer.
#[derive(Debug, Clone)]
pub struct MambaState<B: Backend> {
    /// The last K − 1 convolution inputs, (batch, d_inner, K − 1).
    pub conv: Tensor<B, 3>,
    /// The SSM state, (batch, d_inner, N).
    pub ssm: Tensor<B, 3>,
}

impl<B: Backend> Mamba<B> {
    /// d_inner.
    pub fn d_inner(&self) -> usize {
        self.D.val().dims()[0]
    }

    /// State size N.
    pub fn d_state(&self) -> usize {
        self.A_log.val().dims()[1]
    }
}

impl<B: SelectiveScanOps + CausalConv1dOps> StatefulMixer<B> for Mamba<B> {
    type State = MambaState<B>;

    fn d_model(&self) -> usize {
        self.out_proj.weight.val().dims()[0]
    }

    /// Zeros: the convolution's inputs in the type of its weights, the SSM
    /// state in A's (they differ under mixed precision, where A stays f32).
    fn initial_state(&self, batch: usize) -> MambaState<B> {
        let (conv, a) = (self.conv1d.weight.val(), self.A_log.val());
        let device = a.device();
        MambaState {
            conv: Tensor::zeros(
                [batch, self.d_inner(), self.conv1d.width() - 1],
                (&device, conv.dtype()),
            ),
            ssm: Tensor::zeros(
                [batch, self.d_inner(), self.d_state()],
                (&device, a.dtype()),
            ),
        }
    }

    fn run(
        &self,
        h: Tensor<B, 3>,
        state: Option<MambaState<B>>,
    ) -> Result<(Tensor<B, 3>, MambaState<B>)> {
        let [batch, _, _] = h.dims();
        self.check_input(h.dims())?;
        let (d_inner, n) = (self.d_inner(), self.d_state());
        if let Some(s) = &state {
            self.conv1d.check_state(&s.conv, batch)?;
            if s.ssm.dims() != [batch, d_inner, n] {
                return Err(Error::shape(
                    "ssm state",
                    &[batch, d_inner, n],
                    &s.ssm.dims(),
                ));
            }
        }
        let (conv_state, ssm_state) = match state {
            Some(s) => (Some(s.conv), Some(s.ssm)),
            None => (None, None),
        };
        let xz = self.in_proj.forward(h)?; // (B, L, 2·d_inner)
        let x = xz.clone().narrow(2, 0, d_inner);
        let z = xz.narrow(2, d_inner, d_inner).swap_dims(1, 2); // (B, d_inner, L)
        let (x, conv_next) = self.conv1d.forward(x, conv_state, true)?; // silu'd, (B, L, d_inner)
        let r = self.dt_proj.weight.val().dims()[1];
        let x_dbl = self.x_proj.forward(x.clone())?; // (B, L, r + 2N)
        let x = x.swap_dims(1, 2); // (B, d_inner, L)
        let dt = x_dbl.clone().narrow(2, 0, r);
        let b = x_dbl
            .clone()
            .narrow(2, r, n)
            .swap_dims(1, 2)
            .unsqueeze_dim::<4>(1); // (B, 1, N, L)
        let c = x_dbl
            .narrow(2, r + n, n)
            .swap_dims(1, 2)
            .unsqueeze_dim::<4>(1);
        let delta =
            crate::layers::linear::project(dt, self.dt_proj.weight.val(), None)?.swap_dims(1, 2); // (B, d_inner, L)
        let a = self.A_log.val().exp().neg();
        let scan = SelectiveScan {
            d: Some(self.D.val()),
            z: Some(z),
            delta_bias: self.dt_proj.bias.as_ref().map(|b| b.val()),
            delta_softplus: true,
            initial_state: ssm_state,
            ..SelectiveScan::new(x, delta, a, b, c)
        };
        let (y, ssm_next) = selective_scan(scan)?;
        let out = self.out_proj.forward(y.swap_dims(1, 2))?;
        Ok((
            out,
            MambaState {
                conv: conv_next,
                ssm: ssm_next,
            },
        ))
    }
}
