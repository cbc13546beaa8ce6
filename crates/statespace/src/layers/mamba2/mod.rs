//! The Mamba-2 mixer of state-spaces/mamba `Mamba2` / transformers
//! `Mamba2Mixer`, with their parameter names:
//!
//!   (z, xBC, δ) = in_proj(h)              z ∈ ℝ^{d_inner}, δ ∈ ℝ^{heads}
//!   xBC = silu(causal_conv1d(xBC));  (x, B, C) = xBC
//!   Δ = clamp(softplus(δ + dt_bias), time_step_limit)
//!   y = SSD(x·Δ, Δ·A, B, C) + D·x          A = −exp(A_log), one scalar per head
//!   out = out_proj(gated_rmsnorm(y, z))
//!
//! Sequences are (batch, length, d_model) at the boundary.

#![allow(non_snake_case)] // A_log, D follow the reference names

use crate::layers::linear::Linear;
use crate::random::uniform;
use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::activation::{silu, softplus};
use burn::tensor::backend::Backend;
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::layers::causal_conv::CausalConv1d;
use crate::layers::init;
use crate::layers::mixer::StatefulMixer;
use crate::layers::norm::GatedRmsNorm;
use crate::layers::validate;
use crate::ops::support::primitive::with_dtype;
use crate::ops::{CausalConv1dOps, NormOps, Ssd, SsdOps, matmul, ssd};
use crate::size::{overflow, sum_of_products};

/// Hyperparameters of a Mamba-2 mixer (defaults of mamba_ssm).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Mamba2Config {
    /// Model width.
    pub d_model: usize,
    /// SSM state size N.
    pub d_state: usize,
    /// Width of the causal convolution.
    pub d_conv: usize,
    /// d_inner = expand · d_model.
    pub expand: usize,
    /// Channels per head P.
    pub headdim: usize,
    /// Groups of heads sharing B and C.
    pub ngroups: usize,
    /// SSD chunk length.
    pub chunk_size: usize,
    /// Gated RMSNorm before out_proj (else y·silu(z)).
    pub rmsnorm: bool,
    /// Normalise before gating.
    pub norm_before_gate: bool,
    /// ε of the gated norm.
    pub norm_eps: f64,
    /// Bounds applied to Δ after softplus (`time_step_limit`).
    pub dt_limit: (f64, f64),
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

impl Default for Mamba2Config {
    fn default() -> Self {
        Self {
            d_model: 0,
            d_state: 128,
            d_conv: 4,
            expand: 2,
            headdim: 64,
            ngroups: 1,
            chunk_size: 256,
            rmsnorm: true,
            norm_before_gate: false,
            norm_eps: 1e-5,
            dt_limit: (0.0, f64::INFINITY),
            dt_min: 0.001,
            dt_max: 0.1,
            dt_init_floor: 1e-4,
            conv_bias: true,
            bias: false,
        }
    }
}

impl Mamba2Config {
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

    /// Channels the convolution sees: x, B and C.
    pub fn conv_dim(&self) -> usize {
        self.d_inner() + 2 * self.ngroups * self.d_state
    }

    /// The number of parameters, in checked arithmetic (an error naming the
    /// size that overflows).
    pub fn param_count(&self) -> Result<usize> {
        let (d, n, g, k) = (self.d_model, self.d_state, self.ngroups, self.d_conv);
        let (e, heads) = validate::inner_and_heads(self.expand, d, self.headdim)?;
        let bc = sum_of_products(&[&[2, g, n]]).ok_or_else(|| overflow("d_state"))?;
        let conv = e.checked_add(bc).ok_or_else(|| overflow("d_state"))?;
        let proj =
            sum_of_products(&[&[2, e], &[1, bc], &[heads]]).ok_or_else(|| overflow("d_model"))?;
        let (bias, conv_bias) = (usize::from(self.bias), usize::from(self.conv_bias));
        sum_of_products(&[
            &[d, proj],
            &[bias, proj],
            &[conv, k],
            &[conv_bias, conv],
            &[3, heads],
            &[usize::from(self.rmsnorm), e],
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
            ("headdim", self.headdim),
            ("ngroups", self.ngroups),
            ("chunk_size", self.chunk_size),
        ])?;
        self.param_count()?;
        validate::dt_range(self.dt_min, self.dt_max)?;
        validate::norm_eps(self.norm_eps)?;
        validate::heads_and_groups(self.d_inner(), self.headdim, self.ngroups)?;
        validate::conv_width(self.d_conv)?;
        validate::dt_limit(self.dt_limit)
    }

    /// A freshly initialised mixer (mamba_ssm's initialisation); every
    /// random value is drawn from `rng`.
    pub fn init<B: Backend>(&self, device: &B::Device, rng: &mut impl Rng) -> Result<Mamba2<B>> {
        self.validate()?;
        let (d_model, d_inner, heads) = (self.d_model, self.d_inner(), self.nheads());
        let in_proj = Linear::new(
            d_model,
            2 * d_inner + 2 * self.ngroups * self.d_state + heads,
            self.bias,
            device,
            rng,
        );
        let dt_bias = init::dt_bias(
            rng,
            heads,
            (self.dt_min, self.dt_max, self.dt_init_floor),
            device,
        );
        let a_log = uniform::<B, 1>(rng, [heads], 1.0, 16.0, device).log();
        let conv1d = CausalConv1d::init(self.conv_dim(), self.d_conv, self.conv_bias, device, rng);
        let out_proj = Linear::new(d_inner, d_model, self.bias, device, rng);
        Ok(Mamba2 {
            in_proj,
            conv1d,
            dt_bias: Param::from_tensor(dt_bias),
            A_log: Param::from_tensor(a_log),
            D: Param::from_tensor(Tensor::ones([heads], device)),
            norm: self.rmsnorm.then(|| {
                GatedRmsNorm::new(
                    d_inner,
                    self.ngroups,
                    self.norm_eps,
                    self.norm_before_gate,
                    device,
                )
            }),
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

/// The Mamba-2 mixer.
#[derive(Module, Debug)]
pub struct Mamba2<B: Backend> {
    /// d_model → (z, xBC, δ).
    pub in_proj: Linear<B>,
    /// Causal depthwise convolution over xBC.
    pub conv1d: CausalConv1d<B>,
    /// Δ bias per head.
    pub dt_bias: Param<Tensor<B, 1>>,
    /// log(−A) per head.
    pub A_log: Param<Tensor<B, 1>>,
    /// Skip D per head.
    pub D: Param<Tensor<B, 1>>,
    /// Gated RMSNorm (when configured).
    pub norm: Option<GatedRmsNorm<B>>,
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

/// The recurrent state of a Mamba-2 mixer.
#[derive(Debug, Clone)]
pub struct Mamba2State<B: Backend> {
    /// The last K − 1 convolution inputs, (batch, conv_dim, K − 1).
    pub conv: Tensor<B, 3>,
    /// The SSM state, (batch, heads, headdim, N).
    pub ssm: Tensor<B, 4>,
}

impl<B: Backend> Mamba2<B> {
    /// Number of heads.
    pub fn nheads(&self) -> usize {
        self.A_log.val().dims()[0]
    }

    fn d_inner(&self) -> usize {
        self.nheads() * self.headdim
    }

    fn conv_dim(&self) -> usize {
        self.conv1d.channels()
    }
}

impl<B: SsdOps + CausalConv1dOps + NormOps> StatefulMixer<B> for Mamba2<B> {
    type State = Mamba2State<B>;

    fn d_model(&self) -> usize {
        self.out_proj.weight.val().dims()[0]
    }

    /// Zeros in the type of the activations (the convolution's weights):
    /// the SSD kernels take the state in the activations' storage type.
    fn initial_state(&self, batch: usize) -> Mamba2State<B> {
        let reference = self.conv1d.weight.val();
        let options = (&reference.device(), reference.dtype());
        Mamba2State {
            conv: Tensor::zeros([batch, self.conv_dim(), self.conv1d.width() - 1], options),
            ssm: Tensor::zeros([batch, self.nheads(), self.headdim, self.d_state], options),
        }
    }

    fn run(
        &self,
        h: Tensor<B, 3>,
        state: Option<Mamba2State<B>>,
    ) -> Result<(Tensor<B, 3>, Mamba2State<B>)> {
        let [batch, len, _] = h.dims();
        self.check_input(h.dims())?;
        let (heads, p, n, g) = (self.nheads(), self.headdim, self.d_state, self.ngroups);
        let (d_inner, conv_dim) = (self.d_inner(), self.conv_dim());
        if let Some(s) = &state {
            self.conv1d.check_state(&s.conv, batch)?;
            if s.ssm.dims() != [batch, heads, p, n] {
                return Err(Error::shape(
                    "ssm state",
                    &[batch, heads, p, n],
                    &s.ssm.dims(),
                ));
            }
        }
        let (conv_state, ssm_state) = match state {
            Some(s) => (Some(s.conv), Some(s.ssm)),
            None => (None, None),
        };
        let proj = self.in_proj.forward(h)?;
        let total = proj.dims()[2];
        // mamba_ssm allows extra MLP channels in front: (z0, x0, z, xBC, δ).
        let d_mlp = (total - 2 * d_inner - 2 * g * n - heads) / 2;
        let z = proj.clone().narrow(2, 2 * d_mlp, d_inner);
        let xbc = proj.clone().narrow(2, 2 * d_mlp + d_inner, conv_dim);
        let dt_raw = proj.narrow(2, 2 * d_mlp + d_inner + conv_dim, heads); // (B, L, H)
        let (xbc, conv_next) = self.conv1d.forward(xbc, conv_state, true)?; // silu'd, (B, L, conv_dim)
        let x = xbc
            .clone()
            .narrow(2, 0, d_inner)
            .reshape([batch, len, heads, p]);
        let b = xbc
            .clone()
            .narrow(2, d_inner, g * n)
            .reshape([batch, len, g, n]);
        let c = xbc
            .narrow(2, d_inner + g * n, g * n)
            .reshape([batch, len, g, n]);
        // Δ and the decays in the type of A and the Δ bias (f32 under mixed
        // precision, as mamba_ssm computes them), then in the activations'
        // type for the scan, whose kernels take one storage type.
        let (act, param) = (x.dtype(), self.A_log.val().dtype());
        let dt_in = with_dtype(dt_raw, param) + self.dt_bias.val().reshape([1, 1, heads]);
        let mut dt = softplus(dt_in, 1.0);
        if self.dt_limit_min > 0.0 || self.dt_limit_max.is_finite() {
            dt = dt.clamp(self.dt_limit_min, self.dt_limit_max);
        }
        let a = self.A_log.val().exp().neg().reshape([1, 1, heads]);
        let x_dt = x.clone() * with_dtype(dt.clone(), act).unsqueeze_dim::<4>(3);
        let a_dt = with_dtype(dt * a, act);
        let (y, ssm_next) = match ssm_state {
            // One token from a state: the recurrence itself, h = e^{a} h + B ⊗ x, y = C · h.
            Some(h) if len == 1 => {
                let per_head = |t: Tensor<B, 4>| -> Tensor<B, 3> {
                    t.reshape([batch, g, 1, n])
                        .repeat_dim(2, heads / g)
                        .reshape([batch, heads, n])
                };
                let (b1, c1) = (per_head(b), per_head(c));
                let x1 = x_dt.reshape([batch, heads, p, 1]);
                let decay = a_dt.reshape([batch, heads, 1, 1]).exp();
                // B ⊗ x as a K = 1 matmul: a broadcast product would walk
                // both operands through strided iteration.
                let h = h * decay + matmul(x1, b1.unsqueeze_dim::<4>(2))?;
                let y = matmul(h.clone(), c1.unsqueeze_dim::<4>(3))?.reshape([batch, 1, heads, p]);
                (y, h)
            }
            initial_state => ssd(Ssd {
                x: x_dt,
                a: a_dt,
                b,
                c,
                chunk_size: self.chunk_size,
                initial_state,
                starts: None,
            })?,
        };
        let y = y + x * with_dtype(self.D.val(), act).reshape([1, 1, heads, 1]);
        let y = y.reshape([batch, len, d_inner]);
        let y = match &self.norm {
            Some(norm) => norm.forward(y, z)?,
            None => y * silu(z),
        };
        Ok((
            self.out_proj.forward(y)?,
            Mamba2State {
                conv: conv_next,
                ssm: ssm_next,
            },
        ))
    }
}
