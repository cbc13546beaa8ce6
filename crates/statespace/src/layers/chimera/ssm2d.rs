//! Chimera's input-dependent 2-D SSM over time × variates (Behrouz,
//! Santacatterina, Zabih 2024, arXiv 2406.04320), in the Roesser form the
//! paper builds on: per channel e and state n, two diagonal states per cell,
//! h¹ carried along time and h² along variates,
//!
//!   h¹[v,t] = Ā₁ h¹[v,t−1] + Ā₂ h²[v,t−1] + B̄₁ u[v,t]
//!   h²[v,t] = Ā₄ h²[v−1,t] + Ā₃ h¹[v−1,t] + B̄₂ u[v,t]
//!   y[v,t]  = Σₙ C₁ h¹[v,t] + C₂ h²[v,t] + D u[v,t]
//!
//! discretised by zero-order hold along each axis with its own step, Δ₁
//! along time and Δ₂ along variates, holding the other state and the input
//! over the step (A₁, A₄ < 0 diagonal; A₂, A₃ diagonal couplings):
//!
//!   Ā₁ = exp(Δ₁A₁), φ₁ = (Ā₁ − 1)/A₁, Ā₂ = φ₁A₂, B̄₁ = φ₁B₁
//!   Ā₄ = exp(Δ₂A₄), φ₂ = (Ā₄ − 1)/A₄, Ā₃ = φ₂A₃, B̄₂ = φ₂B₂
//!
//! with Δ₁, Δ₂, B₁, B₂, C₁, C₂ read from u at the cell (Mamba-style
//! projections), states zero outside the grid. The coefficients of a cell
//! are those of its own Δ. The scan itself is the op [`crate::ops::scan2d`]
//! (a fused loop per (batch, channel, state) on the CPU and the GPU).

#![allow(non_snake_case)] // A1_log … D follow the equations' names

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::activation::softplus;
use burn::tensor::backend::Backend;
use rand::Rng;

use super::ChimeraConfig;
use crate::error::{Error, Result};
use crate::layers::init::{dt_projection, s4d_real_a_log};
use crate::layers::linear::{Linear, project};
use crate::ops::scan2d::Scan2dInputs;
use crate::ops::{MatmulOps, Scan2dOps, scan2d};
use crate::random::uniform;

/// The 2-D SSM of one variate direction, on E channels with N states per
/// axis.
#[derive(Module, Debug)]
pub struct Ssm2d<B: Backend> {
    /// E → 2·dt_rank + 4N: (δ₁, δ₂, B₁, B₂, C₁, C₂).
    pub x_proj: Linear<B>,
    /// dt_rank → E; its bias is the Δ₁ bias.
    pub dt_time: Linear<B>,
    /// dt_rank → E; its bias is the Δ₂ bias.
    pub dt_variate: Linear<B>,
    /// log(−A₁), (E, N).
    pub A1_log: Param<Tensor<B, 2>>,
    /// A₂, the variate state's pull on the time state, (E, N).
    pub A2: Param<Tensor<B, 2>>,
    /// A₃, the time state's pull on the variate state, (E, N).
    pub A3: Param<Tensor<B, 2>>,
    /// log(−A₄), (E, N).
    pub A4_log: Param<Tensor<B, 2>>,
    /// Skip D, (E).
    pub D: Param<Tensor<B, 1>>,
}

impl<B: Backend> Ssm2d<B> {
    /// A fresh SSM: S4D-Real A₁ and A₄ (−1 … −N), couplings A₂, A₃ ~
    /// U(−½, ½), D = 1, Δ₂ log-uniform in [dt_min, dt_max] through its
    /// bias. Δ₁ makes the paper's two heads: its first ⌈E/2⌉ channels
    /// start in the slow ("trend") half of the range, [dt_min, √(dt_min ·
    /// dt_max)], the others in the fast ("seasonal") half.
    pub fn init(c: &ChimeraConfig, device: &B::Device, rng: &mut impl Rng) -> Self {
        let (e, n, r) = (c.d_inner(), c.d_state, c.dt_rank());
        let x_proj = Linear::new(e, 2 * r + 4 * n, false, device, rng);
        let middle = (c.dt_min * c.dt_max).sqrt();
        let ranges = [(e.div_ceil(2), c.dt_min, middle), (e / 2, middle, c.dt_max)];
        let dt_time = dt_projection(r, &ranges, 1e-4, device, rng);
        let dt_variate = dt_projection(r, &[(e, c.dt_min, c.dt_max)], 1e-4, device, rng);

        Self {
            x_proj,
            dt_time,
            dt_variate,
            A1_log: Param::from_tensor(s4d_real_a_log(e, n, device)),
            A2: Param::from_tensor(uniform(rng, [e, n], -0.5, 0.5, device)),
            A3: Param::from_tensor(uniform(rng, [e, n], -0.5, 0.5, device)),
            A4_log: Param::from_tensor(s4d_real_a_log(e, n, device)),
            D: Param::from_tensor(Tensor::ones([e], device)),
        }
    }

    /// Channels E.
    pub fn channels(&self) -> usize {
        self.D.val().dims()[0]
    }
}

impl<B: MatmulOps + Scan2dOps> Ssm2d<B> {
    /// u (B, T, V, E) → y (B, T, V, E): causal along time and along the
    /// variate order.
    pub fn forward(&self, u: Tensor<B, 4>) -> Result<Tensor<B, 4>> {
        let [b, t, v, e] = u.dims();
        if e != self.channels() || t == 0 || v == 0 {
            return Err(Error::shape(
                "2-D SSM input (batch, time ≥ 1, variates ≥ 1, channels)",
                &[b, t.max(1), v.max(1), self.channels()],
                &[b, t, v, e],
            ));
        }
        let n = self.A1_log.val().dims()[1];
        let r = self.dt_time.weight.val().dims()[1];
        let x_dbl = project(u.clone(), self.x_proj.weight.val(), None)?; // (B, T, V, 2r + 4N)
        let part = |at: usize, width: usize| x_dbl.clone().narrow(3, at, width);
        let delta = |d: Tensor<B, 4>, p: &Linear<B>| -> Result<Tensor<B, 4>> {
            Ok(softplus(
                project(d, p.weight.val(), p.bias.as_ref().map(|x| x.val()))?,
                1.0,
            ))
        }; // (B, T, V, E)
        let parameter = |a: Tensor<B, 2>| a.reshape([1, 1, e, n]);
        let y = scan2d(Scan2dInputs {
            a1: parameter(self.A1_log.val().exp().neg()),
            a2: parameter(self.A2.val()),
            a3: parameter(self.A3.val()),
            a4: parameter(self.A4_log.val().exp().neg()),
            dt1: delta(part(0, r), &self.dt_time)?,
            dt2: delta(part(r, r), &self.dt_variate)?,
            u: u.clone(),
            b1: part(2 * r, n),
            b2: part(2 * r + n, n),
            c1: part(2 * r + 2 * n, n),
            c2: part(2 * r + 3 * n, n),
        })?;
        Ok(y + u * self.D.val().reshape([1, 1, 1, e]))
    }
}
