//! The Mamba-3 mixer of state-spaces/mamba (`mamba_ssm/modules/mamba3.py`,
//! class `Mamba3`), SISO and MIMO, with its parameter names:
//!
//!   (z, x, B, C, δ, α, τ, φ) = in_proj(u)
//!   Δ = softplus(δ + dt_bias),  A = −max(f(α), A_floor),  λ = sigmoid(τ)
//!   f(a) = 1 + a (a ≥ 0), 1/(1 − a) (a < 0)            (heavy-tail activation)
//!   k_r = rope_θ(B_norm(B_r) + B_bias[h, r]),  q_r = rope_θ(C_norm(C_r) + C_bias[h, r])
//!   θ_t = θ_{t−1} + π·tanh(φ_t)·Δ_t                     (data-dependent rotary angles)
//!   v_r = x ⊙ mimo_x[h, r]                               (SISO: R = 1, v = x)
//!   h_t = e^{AΔ_t} h_{t−1} + (1 − λ_t) Δ_t e^{AΔ_t} Σ_r v_{t−1,r} k_{t−1,r}ᵀ + λ_t Δ_t Σ_r v_{t,r} k_{t,r}ᵀ
//!   y_{t,r} = h_t q_{t,r} + D v_{t,r}
//!   out = out_proj(Σ_r gate(y_r, z ⊙ mimo_z[h, r]) ⊙ mimo_o[h, r])
//!
//! gate is y·silu(z), or with `is_outproj_norm` an RMSNorm over each head's
//! channels before the gate. The exponential-trapezoidal recurrence is an
//! SSD scan: a token's two contributions (this step's λΔ and the next
//! step's (1 − λ)Δe^{AΔ}) share the decay, so the scan takes
//! v·(λ_tΔ_t + (1 − λ_{t+1})Δ_{t+1}) and the term the next step has not
//! yet added, (1 − λ_{t+1})Δ_{t+1}(q_t·k_t)v_t, is taken off the output
//! (rotation cancels in a same-step dot product). MIMO runs each step as
//! 2R − 1 sub-steps of the scan: R input sub-steps (decay on the first)
//! then the R outputs, the first read together with the last input.
//!
//! Sequences are (batch, length, d_model) at the boundary.

#![allow(non_snake_case)] // D, B_bias, C_norm follow the reference names

mod config;

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::activation::{sigmoid, silu, softplus};
use burn::tensor::backend::Backend;

pub use config::Mamba3Config;

use crate::error::{Error, Result};
use crate::layers::linear::Linear;
use crate::layers::mixer::StatefulMixer;
use crate::layers::norm::{GatedRmsNorm, RmsNorm};
use crate::ops::{
    MatmulOps, NormOps, PrefixSumOps, RotaryOps, RotaryPairs, Ssd, SsdOps, add_bias, matmul,
    prefix_sum, rotary, ssd,
};

/// The Mamba-3 mixer.
#[derive(Module, Debug)]
pub struct Mamba3<B: Backend> {
    /// d_model → (z, x, B, C, δ, α, τ, φ).
    pub in_proj: Linear<B>,
    /// Δ bias per head.
    pub dt_bias: Param<Tensor<B, 1>>,
    /// Bias added to the normalised B, (heads, R, N).
    pub B_bias: Param<Tensor<B, 3>>,
    /// Bias added to the normalised C, (heads, R, N).
    pub C_bias: Param<Tensor<B, 3>>,
    /// RMSNorm of B over the state.
    pub B_norm: RmsNorm<B>,
    /// RMSNorm of C over the state.
    pub C_norm: RmsNorm<B>,
    /// Skip D per head.
    pub D: Param<Tensor<B, 1>>,
    /// MIMO: per-rank scale of x, (heads, R, headdim).
    pub mimo_x: Option<Param<Tensor<B, 3>>>,
    /// MIMO: per-rank scale of z, (heads, R, headdim).
    pub mimo_z: Option<Param<Tensor<B, 3>>>,
    /// MIMO: per-rank weight of the outputs, (heads, R, headdim).
    pub mimo_o: Option<Param<Tensor<B, 3>>>,
    /// Gated RMSNorm over each head's channels (`is_outproj_norm`).
    pub norm: Option<GatedRmsNorm<B>>,
    /// d_inner → d_model.
    pub out_proj: Linear<B>,
    /// Channels per head P.
    pub headdim: usize,
    /// Groups of heads sharing B and C.
    pub ngroups: usize,
    /// State size N.
    pub d_state: usize,
    /// Rank R (1 for SISO).
    pub mimo_rank: usize,
    /// Rotary angles S (pairs of state entries rotated).
    pub num_rope_angles: usize,
    /// Lower bound of −A.
    pub a_floor: f64,
    /// Chunk length of the scan (tiling only).
    pub chunk_size: usize,
}

/// The recurrent state of a Mamba-3 mixer (mamba_ssm's decode cache).
#[derive(Debug, Clone)]
pub struct Mamba3State<B: Backend> {
    /// θ after the last step, (batch, heads, S) (not reduced mod 2π).
    pub angle: Tensor<B, 3>,
    /// h, (batch, heads, headdim, N).
    pub ssm: Tensor<B, 4>,
    /// The last step's rotated k, (batch, R, heads, N).
    pub k: Tensor<B, 4>,
    /// The last step's x (before mimo_x), (batch, heads, headdim).
    pub v: Tensor<B, 3>,
}

/// What in_proj gives the scan, per step: the inputs of mamba_ssm's
/// `mamba3_siso_combined` / `mamba3_mimo` kernels.
#[derive(Debug, Clone)]
pub struct Mamba3Inputs<B: Backend> {
    /// The gate z, (B, L, H, P).
    pub z: Tensor<B, 4>,
    /// x, (B, L, H, P).
    pub x: Tensor<B, 4>,
    /// B normalised over the state (B_norm), (B, L, R, G, N).
    pub b: Tensor<B, 5>,
    /// C normalised over the state (C_norm), (B, L, R, G, N).
    pub c: Tensor<B, 5>,
    /// Δ, (B, L, H).
    pub dt: Tensor<B, 3>,
    /// A·Δ ≤ 0, (B, L, H).
    pub adt: Tensor<B, 3>,
    /// Trapezoid logits τ (λ = sigmoid(τ)), (B, L, H).
    pub trap: Tensor<B, 3>,
    /// Angle logits φ, (B, L, S).
    pub angles: Tensor<B, 3>,
}

/// A step's quantities in the layouts the scan takes, (B, L, R, H, ·).
struct Projected<B: Backend> {
    z: Tensor<B, 5>,
    x: Tensor<B, 4>,
    v: Tensor<B, 5>,
    k: Tensor<B, 5>,
    q: Tensor<B, 5>,
    /// B and C before the bias and rotation, (B, L, R, G, N).
    b: Tensor<B, 5>,
    c: Tensor<B, 5>,
    dt: Tensor<B, 3>,
    adt: Tensor<B, 3>,
    lambda: Tensor<B, 3>,
    theta: Tensor<B, 4>,
}

impl<B: Backend> Mamba3<B> {
    /// Number of heads.
    pub fn nheads(&self) -> usize {
        self.D.val().dims()[0]
    }

    /// The shapes of the decode state for `batch` sequences: angle (B, H, S),
    /// ssm (B, H, P, N), k (B, R, H, N), v (B, H, P).
    fn state_dims(&self, batch: usize) -> ([usize; 3], [usize; 4], [usize; 4], [usize; 3]) {
        let (heads, p, n) = (self.nheads(), self.headdim, self.d_state);
        (
            [batch, heads, self.num_rope_angles],
            [batch, heads, p, n],
            [batch, self.mimo_rank, heads, n],
            [batch, heads, p],
        )
    }

    /// Whether the mixer is MIMO (rank R > 1 or per-rank weights).
    pub fn is_mimo(&self) -> bool {
        self.mimo_x.is_some()
    }

    fn d_inner(&self) -> usize {
        self.nheads() * self.headdim
    }

    /// The per-rank weight `w` (heads, R, P) as (1, 1, R, heads, P).
    fn rank_weight(w: &Param<Tensor<B, 3>>) -> Tensor<B, 5> {
        w.val()
            .swap_dims(0, 1)
            .unsqueeze_dim::<4>(0)
            .unsqueeze_dim(0)
    }

    /// x (B, L, H, P) as the rank inputs v (B, L, R, H, P).
    fn rank_inputs(&self, x: Tensor<B, 4>) -> Tensor<B, 5> {
        let x = x.unsqueeze_dim::<5>(2);
        match &self.mimo_x {
            Some(w) => x * Self::rank_weight(w),
            None => x,
        }
    }
}

impl<B: SsdOps + NormOps + MatmulOps + PrefixSumOps + RotaryOps> Mamba3<B> {
    /// in_proj of u (B, L, d_model) split into the scan's inputs: Δ, A·Δ
    /// and B, C normalised. Fails on an empty or misshaped input.
    pub fn inputs(&self, u: Tensor<B, 3>) -> Result<Mamba3Inputs<B>> {
        let [batch, len, _] = u.dims();
        self.check_input(u.dims())?;
        if len == 0 {
            return Err(Error::shape(
                "input (batch, length ≥ 1, d_model)",
                &[batch, 1, self.d_model()],
                &u.dims(),
            ));
        }
        let (heads, p, n, g, r) = (
            self.nheads(),
            self.headdim,
            self.d_state,
            self.ngroups,
            self.mimo_rank,
        );
        let (e, s) = (self.d_inner(), self.num_rope_angles);
        let proj = self.in_proj.forward(u)?;
        let mut at = 0;
        let mut take = |width: usize| {
            let part = proj.clone().narrow(2, at, width);
            at += width;
            part
        };
        let z = take(e).reshape([batch, len, heads, p]);
        let x = take(e).reshape([batch, len, heads, p]);
        let b = take(r * g * n).reshape([batch, len, r, g, n]);
        let c = take(r * g * n).reshape([batch, len, r, g, n]);
        let dd_dt = take(heads);
        let dd_a = take(heads);
        let trap = take(heads);
        let angles = take(s);
        let dt = softplus(dd_dt + self.dt_bias.val().reshape([1, 1, heads]), 1.0);
        // −A = max(f(α), A_floor) with f the heavy-tail activation.
        let heavy_tail =
            dd_a.clone().clamp_min(0.0) + (dd_a.clamp_max(0.0).neg().add_scalar(1.0)).recip();
        let adt = heavy_tail.clamp_min(self.a_floor).neg() * dt.clone();
        Ok(Mamba3Inputs {
            z,
            x,
            b: self.B_norm.forward(b)?,
            c: self.C_norm.forward(c)?,
            dt,
            adt,
            trap,
            angles,
        })
    }

    /// The per-head, per-rank layouts of `inputs`, the angles continued
    /// from `theta0` (B, H, S).
    fn prepare(
        &self,
        inputs: Mamba3Inputs<B>,
        theta0: Option<Tensor<B, 3>>,
    ) -> Result<Projected<B>> {
        let [batch, len, _, _, _] = inputs.b.dims();
        let heads = self.nheads();
        let step_angle = (inputs.angles.tanh() * std::f64::consts::PI).unsqueeze_dim::<4>(2)
            * inputs.dt.clone().unsqueeze_dim(3); // (B, L, H, S)
        let [_, _, _, s] = step_angle.dims();
        let mut theta = prefix_sum(step_angle.reshape([batch, len, heads * s]), false)?
            .reshape([batch, len, heads, s]);
        if let Some(t0) = theta0 {
            theta = theta + t0.unsqueeze_dim(1);
        }
        let pairs = if self.is_mimo() {
            RotaryPairs::Halves
        } else {
            RotaryPairs::Adjacent
        };
        let k = rotary(inputs.b.clone(), self.B_bias.val(), theta.clone(), pairs)?;
        let q = rotary(inputs.c.clone(), self.C_bias.val(), theta.clone(), pairs)?;
        let z = inputs.z.unsqueeze_dim::<5>(2);
        let z = match &self.mimo_z {
            Some(w) => z * Self::rank_weight(w),
            None => z,
        };
        Ok(Projected {
            z,
            v: self.rank_inputs(inputs.x.clone()),
            x: inputs.x,
            k,
            q,
            b: inputs.b,
            c: inputs.c,
            dt: inputs.dt,
            adt: inputs.adt,
            lambda: sigmoid(inputs.trap),
            theta,
        })
    }

    /// q · k of each step and head, SISO only: b and c (B, L, 1, G, N)
    /// before the bias and rotation → (B, L, H). q and k turn by the same
    /// angles, and a rotation keeps dot products, so
    /// q·k = (c_g + C_bias_h)·(b_g + B_bias_h) = c_g·b_g + c_g·B_bias_h +
    /// b_g·C_bias_h + C_bias_h·B_bias_h: products of the group-shared
    /// vectors with the (N × H) biases, without the (B, L, H, N) product
    /// of q and k (and its two gradients of that size).
    fn same_step_dots(&self, b: Tensor<B, 5>, c: Tensor<B, 5>) -> Result<Tensor<B, 3>> {
        let [batch, len, _, g, n] = b.dims();
        let heads = self.nheads();
        let (rows, per) = (batch * len, heads / g);
        // (G, rows, N), and each bias (H, 1, N) as (G, N, H/G).
        let by_group = |t: Tensor<B, 5>| t.reshape([rows, g, n]).swap_dims(0, 1);
        let bias_columns = |t: Tensor<B, 3>| t.reshape([g, per, n]).swap_dims(1, 2);
        let (bg, cg) = (by_group(b), by_group(c));
        let (b_bias, c_bias) = (self.B_bias.val(), self.C_bias.val());
        let cross = matmul(cg.clone(), bias_columns(b_bias.clone()))?
            + matmul(bg.clone(), bias_columns(c_bias.clone()))?; // (G, rows, H/G)
        let shared = (cg * bg).sum_dim(2); // (G, rows, 1)
        let dots = (cross + shared).swap_dims(0, 1).reshape([rows, heads]);
        // The biases' own product, one per head, as a bias of the rows
        // (its gradient a column sum, not a sum along the leading axis).
        let constant = (b_bias * c_bias).sum_dim(2).reshape([heads]);
        Ok(add_bias(dots, constant)?.reshape([batch, len, heads]))
    }

    /// Σ_r v_r k_rᵀ of one step, v (B, R, H, P), k (B, R, H, N) → (B, H, P, N).
    fn outer(v: Tensor<B, 4>, k: Tensor<B, 4>) -> Result<Tensor<B, 4>> {
        matmul(v.permute([0, 2, 3, 1]), k.swap_dims(1, 2))
    }
}

/// `t` (B, L, H) one step later: t[1..] followed by a zero.
fn next_step<B: Backend>(t: &Tensor<B, 3>) -> Tensor<B, 3> {
    let [batch, len, heads] = t.dims();
    let zero = Tensor::zeros([batch, 1, heads], (&t.device(), t.dtype()));
    if len == 1 {
        zero
    } else {
        Tensor::cat(vec![t.clone().narrow(1, 1, len - 1), zero], 1)
    }
}

impl<B: SsdOps + NormOps + MatmulOps + PrefixSumOps + RotaryOps> StatefulMixer<B> for Mamba3<B> {
    type State = Mamba3State<B>;

    fn d_model(&self) -> usize {
        self.out_proj.weight.val().dims()[0]
    }

    fn initial_state(&self, batch: usize) -> Mamba3State<B> {
        let reference = self.D.val();
        let options = (&reference.device(), reference.dtype());
        let (angle, ssm, k, v) = self.state_dims(batch);
        Mamba3State {
            angle: Tensor::zeros(angle, options),
            ssm: Tensor::zeros(ssm, options),
            k: Tensor::zeros(k, options),
            v: Tensor::zeros(v, options),
        }
    }

    fn run(
        &self,
        u: Tensor<B, 3>,
        state: Option<Mamba3State<B>>,
    ) -> Result<(Tensor<B, 3>, Mamba3State<B>)> {
        let [batch, len, _] = u.dims();
        let (y, next) = self.scan(self.inputs(u)?, state)?;
        let out = self
            .out_proj
            .forward(y.reshape([batch, len, self.d_inner()]))?;
        Ok((out, next))
    }
}

impl<B: SsdOps + NormOps + MatmulOps + PrefixSumOps + RotaryOps> Mamba3<B> {
    /// The scan of `inputs` (from [`Self::inputs`]) continued from `state`
    /// (`None`: zero): the gated outputs contracted over the ranks, before
    /// out_proj, (B, L, H, P), and the state after the last step. Fails on
    /// a state of another shape.
    pub fn scan(
        &self,
        inputs: Mamba3Inputs<B>,
        state: Option<Mamba3State<B>>,
    ) -> Result<(Tensor<B, 4>, Mamba3State<B>)> {
        let [batch, len, _, _] = inputs.x.dims();
        if len == 0 {
            return Err(Error::shape(
                "x (batch, length ≥ 1, heads, headdim)",
                &[batch, 1, self.nheads(), self.headdim],
                &inputs.x.dims(),
            ));
        }
        if let Some(s) = &state {
            let (angle, ssm, k, v) = self.state_dims(batch);
            let pairs: [(&str, &[usize], &[usize]); 4] = [
                ("angle state", &s.angle.dims(), &angle),
                ("ssm state", &s.ssm.dims(), &ssm),
                ("k state", &s.k.dims(), &k),
                ("v state", &s.v.dims(), &v),
            ];
            if let Some((name, got, want)) = pairs.into_iter().find(|(_, got, want)| got != want) {
                return Err(Error::shape(name, want, got));
            }
        }
        let (heads, p, r) = (self.nheads(), self.headdim, self.mimo_rank);
        let pr = self.prepare(inputs, state.as_ref().map(|s| s.angle.clone()))?;
        // The next step's (1 − λ)Δ, zero past the chunk (its state is exact).
        let dt_next = next_step(&pr.dt);
        let lambda_next = next_step(&pr.lambda);
        let carry = lambda_next.neg().add_scalar(1.0) * dt_next; // (B, L, H)
        let weight = pr.lambda.clone() * pr.dt.clone() + carry.clone();
        // The previous step's trapezoid term enters through the initial state.
        let initial_state = match state {
            Some(s) => {
                let first =
                    |t: &Tensor<B, 3>| t.clone().narrow(1, 0, 1).reshape([batch, heads, 1, 1]);
                let scale = first(&pr.lambda).neg().add_scalar(1.0) * first(&pr.dt);
                let v_prev = self
                    .rank_inputs(s.v.unsqueeze_dim(1))
                    .reshape([batch, r, heads, p]);
                Some(s.ssm + Self::outer(v_prev, s.k)? * scale)
            }
            None => None,
        };
        // 2R − 1 sub-steps per step: inputs at 0..R, outputs at R − 1..2R − 1.
        let subs = 2 * r - 1;
        let zeros_like = |t: &Tensor<B, 5>| {
            let [b_, l_, _, h_, w_] = t.dims();
            Tensor::<B, 5>::zeros([b_, l_, 1, h_, w_], (&t.device(), t.dtype()))
        };
        let sub_steps = |t: Tensor<B, 5>, inputs: bool| -> Tensor<B, 4> {
            let [_, _, _, h_, w_] = t.dims();
            if subs == 1 {
                // SISO: the steps themselves (a one-part cat would copy).
                return t.reshape([batch, len, h_, w_]);
            }
            let parts = (0..subs)
                .map(|j| {
                    let rank = if inputs {
                        Some(j)
                    } else {
                        j.checked_sub(r - 1)
                    };
                    match rank.filter(|&i| i < r) {
                        Some(i) => t.clone().narrow(2, i, 1),
                        None => zeros_like(&t),
                    }
                })
                .collect();
            Tensor::cat(parts, 2).reshape([batch, len * subs, h_, w_])
        };
        let x_scan = sub_steps(
            pr.v.clone() * weight.clone().unsqueeze_dim::<4>(3).unsqueeze_dim(2),
            true,
        );
        let b_scan = sub_steps(pr.k.clone(), true);
        let c_scan = sub_steps(pr.q.clone(), false);
        // The decay on each step's first sub-step. (No empty tensor for
        // SISO: a zero-element launch is an invalid argument on CUDA.)
        let a_scan = if subs == 1 {
            pr.adt.clone()
        } else {
            let adt = pr.adt.clone().unsqueeze_dim::<4>(2);
            let rest = Tensor::zeros([batch, len, subs - 1, heads], (&adt.device(), adt.dtype()));
            Tensor::cat(vec![adt, rest], 2).reshape([batch, len * subs, heads])
        };
        let (y, ssm_next) = ssd(Ssd {
            x: x_scan,
            a: a_scan,
            b: b_scan,
            c: c_scan,
            chunk_size: self.chunk_size,
            initial_state,
            starts: None,
        })?;
        let y = y.reshape([batch, len, subs, heads, p]).narrow(2, r - 1, r); // (B, L, R, H, P)
        // Σ_r' (q_r · k_r') v_r' of the same step, to take the carry off.
        let same_step = if r == 1 {
            self.same_step_dots(pr.b, pr.c)?
                .reshape([batch, len, 1, heads, 1])
                * pr.v.clone()
        } else {
            let rows = batch * len;
            let by_head = |t: Tensor<B, 5>| {
                let [_, _, _, _, w_] = t.dims();
                t.swap_dims(2, 3).reshape([rows, heads, r, w_])
            };
            let qk = matmul(by_head(pr.q), by_head(pr.k.clone()).swap_dims(2, 3))?;
            matmul(qk, by_head(pr.v.clone()))?
                .reshape([batch, len, heads, r, p])
                .swap_dims(2, 3)
        };
        let d = self.D.val().reshape([1, 1, 1, heads, 1]);
        let y = y - same_step * carry.unsqueeze_dim::<4>(3).unsqueeze_dim(2) + pr.v * d;
        let e = self.d_inner();
        let gated = match &self.norm {
            Some(norm) => norm
                .forward(
                    y.reshape([batch, len * r, e]),
                    pr.z.reshape([batch, len * r, e]),
                )?
                .reshape([batch, len, r, heads, p]),
            None => y * silu(pr.z),
        };
        let y = match &self.mimo_o {
            Some(w) => (gated * Self::rank_weight(w)).sum_dim(2),
            None => gated,
        };
        let last = |t: Tensor<B, 4>| t.narrow(1, len - 1, 1);
        let next = Mamba3State {
            angle: last(pr.theta).reshape([batch, heads, self.num_rope_angles]),
            ssm: ssm_next,
            k: pr
                .k
                .narrow(1, len - 1, 1)
                .reshape([batch, r, heads, self.d_state]),
            v: last(pr.x).reshape([batch, heads, p]),
        };
        Ok((y.reshape([batch, len, heads, p]), next))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layers::mamba3::Mamba3Config;
    use burn::module::Param;
    use burn::tensor::Distribution;
    use burn_flex::Flex;

    /// The same-step dots from the unrotated vectors equal q·k of the
    /// rotated keys and queries, with two groups, random biases and angles,
    /// for both pair layouts.
    #[test]
    fn same_step_dots_equal_the_rotated_products() {
        let device = Default::default();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(7);
        let config = Mamba3Config {
            d_state: 8,
            headdim: 4,
            ngroups: 2,
            ..Mamba3Config::new(16)
        };
        let mut layer = config.init::<Flex>(&device, &mut rng).unwrap();
        let (heads, s) = (config.nheads(), config.num_rope_angles());
        let normal = |shape: Vec<usize>| {
            Tensor::<Flex, 1>::random(
                [shape.iter().product::<usize>()],
                Distribution::Normal(0.0, 1.0),
                &device,
            )
        };
        layer.B_bias = Param::from_tensor(normal(vec![heads, 1, 8]).reshape([heads, 1, 8]));
        layer.C_bias = Param::from_tensor(normal(vec![heads, 1, 8]).reshape([heads, 1, 8]));
        let (batch, len) = (2, 5);
        let b = normal(vec![batch, len, 1, 2, 8]).reshape([batch, len, 1, 2, 8]);
        let c = normal(vec![batch, len, 1, 2, 8]).reshape([batch, len, 1, 2, 8]);
        let theta = normal(vec![batch, len, heads, s]).reshape([batch, len, heads, s]);
        let dots = layer.same_step_dots(b.clone(), c.clone()).unwrap();
        for pairs in [RotaryPairs::Adjacent, RotaryPairs::Halves] {
            let k = rotary(b.clone(), layer.B_bias.val(), theta.clone(), pairs).unwrap();
            let q = rotary(c.clone(), layer.C_bias.val(), theta.clone(), pairs).unwrap();
            let direct = (q * k).sum_dim(4).reshape([batch, len, heads]);
            let gap = (direct - dots.clone()).abs().max().into_scalar();
            assert!(gap < 1e-5, "{pairs:?}: largest gap {gap}");
        }
    }
}
