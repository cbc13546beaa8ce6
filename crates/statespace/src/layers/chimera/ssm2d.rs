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
//! are those of its own Δ. Computed as a loop over time whose variate scan
//! is one product with the lower-triangular matrix of running Ā₄ products.

#![allow(non_snake_case)] // A1_log … D follow the equations' names

use burn::module::{Module, Param};
use burn::tensor::activation::softplus;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor};
use rand::Rng;

use super::ChimeraConfig;
use crate::error::{Error, Result};
use crate::layers::init::{dt_bias, s4d_real_a_log};
use crate::layers::linear::{Linear, project};
use crate::ops::{MatmulOps, PrefixSumOps, prefix_sum};
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

/// The discretised coefficients of every cell, laid out (B, T, E, N, V).
struct Coefficients<B: Backend> {
    a1: Tensor<B, 5>,
    a2: Tensor<B, 5>,
    bu1: Tensor<B, 5>,
    a3: Tensor<B, 5>,
    bu2: Tensor<B, 5>,
    /// Running products of Ā₄ along v: m[…, v, w] = Π_{w<k≤v} Ā₄[k] for
    /// w ≤ v, else 0; (B, T, E, N, V, V).
    m: Tensor<B, 6>,
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
        let dt = |ranges: &[(usize, f64, f64)], rng: &mut _| {
            let mut p = Linear::new(r, e, true, device, rng);
            let std = (r as f64).powf(-0.5);
            p.weight = Param::from_tensor(uniform(rng, [e, r], -std, std, device));
            let parts = ranges
                .iter()
                .filter(|(count, _, _)| *count > 0)
                .map(|&(count, lo, hi)| dt_bias(rng, count, (lo, hi, 1e-4), device))
                .collect();
            p.bias = Some(Param::from_tensor(Tensor::cat(parts, 0)));
            p
        };
        let dt_time = dt(&ranges, rng);
        let dt_variate = dt(&[(e, c.dt_min, c.dt_max)], rng);

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

impl<B: MatmulOps + PrefixSumOps> Ssm2d<B> {
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
        let coefficients = self.coefficients(
            u.clone(),
            [part(0, r), part(r, r)],
            [part(2 * r, n), part(2 * r + n, n)],
        )?;
        let (h1, h2) = self.states(&coefficients, [b, t, e, n, v]);
        // y[b, t, v, e] = Σₙ C₁ h¹ + C₂ h², with C (B, T, V, N) read at the cell.
        let read = |c: Tensor<B, 4>, h: Tensor<B, 5>| {
            (h * c.permute([0, 1, 3, 2]).unsqueeze_dim::<5>(2))
                .sum_dim(3)
                .reshape([b, t, e, v])
                .permute([0, 1, 3, 2])
        };
        let y = read(part(2 * r + 2 * n, n), h1) + read(part(2 * r + 3 * n, n), h2);
        Ok(y + u * self.D.val().reshape([1, 1, 1, e]))
    }

    /// Δ₁, Δ₂ (from δ₁, δ₂) and B₁, B₂, each (B, T, V, ·), into the
    /// coefficients of every cell.
    fn coefficients(
        &self,
        u: Tensor<B, 4>,
        [d1, d2]: [Tensor<B, 4>; 2],
        [b1, b2]: [Tensor<B, 4>; 2],
    ) -> Result<Coefficients<B>> {
        let [b, t, v, e] = u.dims();
        let n = self.A1_log.val().dims()[1];
        let delta = |d: Tensor<B, 4>, p: &Linear<B>| -> Result<Tensor<B, 4>> {
            Ok(softplus(
                project(d, p.weight.val(), p.bias.as_ref().map(|x| x.val()))?,
                1.0,
            ))
        }; // (B, T, V, E)
        let (dt1, dt2) = (delta(d1, &self.dt_time)?, delta(d2, &self.dt_variate)?);
        // To (B, T, E, N, V): the state layout of the time loop.
        let cells = |x: Tensor<B, 4>| x.permute([0, 1, 3, 2]).unsqueeze_dim::<5>(3); // (B, T, E, 1, V)
        let diag = |a: Tensor<B, 2>| a.reshape([1, 1, e, n, 1]);
        let a1 = diag(self.A1_log.val().exp().neg());
        let a4 = diag(self.A4_log.val().exp().neg());
        let bar1 = (cells(dt1) * a1.clone()).exp(); // (B, T, E, N, V)
        let phi1 = (bar1.clone() - 1.0) / a1;
        let bar4_log = cells(dt2.clone()) * a4.clone();
        let phi2 = (bar4_log.exp() - 1.0) / a4.clone();
        let input =
            |bn: Tensor<B, 4>| bn.permute([0, 1, 3, 2]).unsqueeze_dim::<5>(2) * cells(u.clone()); // (B, T, E, N, V)
        // Running sums S[v] = Σ_{k≤v} Δ₂[k]; Π_{w<k≤v} Ā₄[k] = exp(A₄(S[v] − S[w])).
        let s = prefix_sum(dt2.reshape([b * t, v, e]), false)?
            .reshape([b, t, v, e])
            .permute([0, 1, 3, 2])
            .unsqueeze_dim::<5>(3); // (B, T, E, 1, V)
        let gap = (s.clone().unsqueeze_dim::<6>(5) - s.unsqueeze_dim::<6>(4)).clamp_min(0.0); // [v, w] = S[v] − S[w]
        let lower = Tensor::<B, 2, Int>::ones([v, v], &u.device())
            .tril(0)
            .float()
            .cast(u.dtype())
            .reshape([1, 1, 1, 1, v, v]);
        let m = (gap * a4.unsqueeze_dim::<6>(5)).exp() * lower;
        Ok(Coefficients {
            a2: phi1.clone() * diag(self.A2.val()),
            bu1: phi1 * input(b1),
            a3: phi2.clone() * diag(self.A3.val()),
            bu2: phi2 * input(b2),
            a1: bar1,
            m,
        })
    }

    /// The states h¹, h² of every cell, each (B, T, E, N, V).
    fn states(
        &self,
        c: &Coefficients<B>,
        [b, t, e, n, v]: [usize; 5],
    ) -> (Tensor<B, 5>, Tensor<B, 5>) {
        let at = |x: &Tensor<B, 5>, i: usize| x.clone().narrow(1, i, 1).reshape([b, e, n, v]);
        let device = c.a1.device();
        let options = (&device, c.a1.dtype());
        let mut h1 = Tensor::<B, 4>::zeros([b, e, n, v], options);
        let mut h2 = Tensor::<B, 4>::zeros([b, e, n, v], options);
        let first = Tensor::<B, 4>::zeros([b, e, n, 1], options);
        let (mut ones, mut twos) = (Vec::with_capacity(t), Vec::with_capacity(t));
        for i in 0..t {
            h1 = at(&c.a1, i) * h1 + at(&c.a2, i) * h2 + at(&c.bu1, i);
            // h¹[v − 1, t], zero before the first variate.
            let shifted = if v > 1 {
                Tensor::cat(vec![first.clone(), h1.clone().narrow(3, 0, v - 1)], 3)
            } else {
                first.clone()
            };
            let g = at(&c.a3, i) * shifted + at(&c.bu2, i);
            // h²[v] = Σ_{w≤v} m[v, w] g[w] (elementwise: V is small).
            let m = c.m.clone().narrow(1, i, 1).reshape([b, e, n, v, v]);
            h2 = (m * g.unsqueeze_dim::<5>(3))
                .sum_dim(4)
                .reshape([b, e, n, v]);
            ones.push(h1.clone());
            twos.push(h2.clone());
        }
        (Tensor::stack(ones, 1), Tensor::stack(twos, 1))
    }
}
