//! MambaMixer's selective mixer (Behrouz et al. 2024, arXiv 2403.19888 v1,
//! eqs. 6–18), one block over a sequence axis, unidirectional (the token
//! mixer, eqs. 6–11) or bidirectional (the channel mixer, eqs. 12–18):
//!
//!   x̄ = silu(conv(in_proj(x)))                    (6)   x (B, L, D) → (B, L, E)
//!   g = gate(x)                                   (7)   the "MLP" branch, D → E
//!   (δ, B, C) = x_proj(x)                         (8–10) from the block input x
//!   Δ = softplus(dt_proj(δ) + bias)
//!   y = SSM(x̄; Δ, A, B, C, D) · silu(g)          (11)
//!   y += flip(SSM←(flip(x̄←); …)) · silu(g)        (18, bidirectional)
//!   out = out_proj(y)                             E → D
//!
//! The SSM is Mamba's S6 (ZOH Ā = exp(ΔA), B̄ = ΔB, A = −exp(A_log), skip D).
//! Each direction has its own in_proj, convolution, x_proj, dt_proj, A and
//! D; both share the gate and the output projection (eq. 18 gates both
//! with one x̃_MLP). Choices the paper leaves open are listed in
//! docs/ARCHITECTURE.md.

#![allow(non_snake_case)] // A_log, D follow Mamba's names

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;

use super::MambaMixerConfig;
use crate::error::Result;
use crate::layers::causal_conv::CausalConv1d;
use crate::layers::init::{dt_projection, s4d_real_a_log};
use crate::layers::linear::{Linear, project};
use crate::ops::{CausalConv1dOps, SelectiveScan, SelectiveScanOps, selective_scan};

/// One scan direction: its input map, convolution and S6 parameters.
#[derive(Module, Debug)]
pub struct SelectiveDirection<B: Backend> {
    /// D → E, the SSM input before the convolution.
    pub in_proj: Linear<B>,
    /// Causal depthwise convolution over E channels.
    pub conv1d: CausalConv1d<B>,
    /// D → dt_rank + 2N (δ, B, C), read from the block input.
    pub x_proj: Linear<B>,
    /// dt_rank → E; its bias is the Δ bias.
    pub dt_proj: Linear<B>,
    /// log(−A), (E, N).
    pub A_log: Param<Tensor<B, 2>>,
    /// Skip D, (E).
    pub D: Param<Tensor<B, 1>>,
}

/// A selective token mixer (one direction) or channel mixer (two).
#[derive(Module, Debug)]
pub struct SelectiveMixer<B: Backend> {
    /// The scan along the sequence.
    pub forward: SelectiveDirection<B>,
    /// The scan against it (bidirectional mixers only).
    pub backward: Option<SelectiveDirection<B>>,
    /// D → E, the gate both directions share.
    pub gate: Linear<B>,
    /// E → D.
    pub out_proj: Linear<B>,
}

impl<B: Backend> SelectiveDirection<B> {
    /// Mamba's initialisation: S4D-Real A, D = 1, Δ log-uniform in
    /// [dt_min, dt_max] through the bias, PyTorch's default linear and
    /// convolution draws.
    fn init(c: &MambaMixerConfig, device: &B::Device, rng: &mut impl Rng) -> Self {
        let (d, e, n, r) = (c.d_model, c.d_inner(), c.d_state, c.dt_rank());
        let in_proj = Linear::new(d, e, false, device, rng);
        let conv1d = CausalConv1d::init(e, c.d_conv, true, device, rng);
        let x_proj = Linear::new(d, r + 2 * n, false, device, rng);
        let dt_proj = dt_projection(r, &[(e, c.dt_min, c.dt_max)], c.dt_init_floor, device, rng);

        Self {
            in_proj,
            conv1d,
            x_proj,
            dt_proj,
            A_log: Param::from_tensor(s4d_real_a_log(e, n, device)),
            D: Param::from_tensor(Tensor::ones([e], device)),
        }
    }
}

impl<B: SelectiveScanOps + CausalConv1dOps> SelectiveDirection<B> {
    /// The gated scan of x (B, L, D) along L with gate g (B, E, L):
    /// SSM(x̄) · silu(g), (B, E, L).
    fn scan(&self, x: Tensor<B, 3>, gate: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let n = self.A_log.val().dims()[1];
        let r = self.dt_proj.weight.val().dims()[1];
        let (xc, _) = self
            .conv1d
            .forward(self.in_proj.forward(x.clone())?, None, true)?;
        let x_dbl = self.x_proj.forward(x)?; // (B, L, r + 2N)
        let read = |at: usize| {
            x_dbl
                .clone()
                .narrow(2, at, n)
                .swap_dims(1, 2)
                .unsqueeze_dim::<4>(1)
        }; // (B, 1, N, L)
        let (b, c) = (read(r), read(r + n));
        let delta =
            project(x_dbl.narrow(2, 0, r), self.dt_proj.weight.val(), None)?.swap_dims(1, 2);
        let scan = SelectiveScan {
            d: Some(self.D.val()),
            z: Some(gate),
            delta_bias: self.dt_proj.bias.as_ref().map(|b| b.val()),
            delta_softplus: true,
            ..SelectiveScan::new(
                xc.swap_dims(1, 2),
                delta,
                self.A_log.val().exp().neg(),
                b,
                c,
            )
        };
        Ok(selective_scan(scan)?.0)
    }
}

impl<B: Backend> SelectiveMixer<B> {
    /// A fresh mixer, bidirectional when `bidirectional`.
    pub fn init(
        c: &MambaMixerConfig,
        bidirectional: bool,
        device: &B::Device,
        rng: &mut impl Rng,
    ) -> Self {
        let forward = SelectiveDirection::init(c, device, rng);
        let backward = bidirectional.then(|| SelectiveDirection::init(c, device, rng));
        Self {
            forward,
            backward,
            gate: Linear::new(c.d_model, c.d_inner(), false, device, rng),
            out_proj: Linear::new(c.d_inner(), c.d_model, false, device, rng),
        }
    }
}

impl<B: SelectiveScanOps + CausalConv1dOps> SelectiveMixer<B> {
    /// x (B, L, D) → (B, L, D): causal along L for a token mixer; a
    /// bidirectional mixer reads the whole sequence.
    pub fn forward(&self, x: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let gate = self.gate.forward(x.clone())?.swap_dims(1, 2); // (B, E, L)
        let mut y = self.forward.scan(x.clone(), gate.clone())?;
        if let Some(back) = &self.backward {
            y = y + back.scan(x.flip([1]), gate.flip([2]))?.flip([2]);
        }
        self.out_proj.forward(y.swap_dims(1, 2))
    }
}
