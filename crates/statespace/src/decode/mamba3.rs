//! A Mamba-3 mixer over a block of tokens on host f32 memory (batch 1), the
//! arithmetic of [`crate::layers::mamba3::Mamba3::forward_with_state`] as
//! the recurrence itself (one token is a decode step, more a prefill
//! chunk), per token and head:
//!
//!   θ ← θ + π·tanh(φ)·Δ;  k_r, q_r = rope_θ(rmsnorm(B_r), rmsnorm(C_r) + biases)
//!   h ← α (h + (1 − λ)Δ Σ_r v'_r ⊗ k'_r) + λΔ Σ_r v_r ⊗ k_r   (v', k': the previous token's)
//!   y_r = h · q_r + D v_r,  out_h = Σ_r gate(y_r, z ⊙ mimo_z_r) ⊙ mimo_o_r,
//!
//! then out_proj. Heads run in parallel, tokens in order.

use burn::tensor::backend::Backend;
use rayon::prelude::*;

use super::cpu_kernels::{rms_norm, silu, softplus};
use super::matrix::{Matrix, WeightFormat};
use super::shared::host_values;
use crate::error::{Error, Result};
use crate::layers::mamba3::{Mamba3, Mamba3State};
use crate::ops::support::row_update::decay_update_dot;

/// The weights of a Mamba-3 mixer, as host f32 values.
struct Weights {
    in_proj: Matrix,
    dt_bias: Vec<f32>,
    /// (heads, R, N) each.
    b_bias: Vec<f32>,
    c_bias: Vec<f32>,
    /// RMSNorm weights (N) and ε of B and C.
    b_norm: (Vec<f32>, f32),
    c_norm: (Vec<f32>, f32),
    d: Vec<f32>,
    /// mimo_x, mimo_z, mimo_o, (heads, R, P) each; `None` for SISO.
    mimo: Option<[Vec<f32>; 3]>,
    /// The gated norm's weight (d_inner) and ε, with `is_outproj_norm`.
    norm: Option<(Vec<f32>, f32)>,
    out_proj: Matrix,
    a_floor: f32,
    heads: usize,
    headdim: usize,
    d_state: usize,
    groups: usize,
    rank: usize,
    angles: usize,
}

/// One head's recurrent state.
struct HeadState {
    /// θ, (S).
    theta: Vec<f32>,
    /// h, (P, N).
    h: Vec<f32>,
    /// The previous token's rotated k, (R, N).
    k_prev: Vec<f32>,
    /// The previous token's x, (P).
    v_prev: Vec<f32>,
}

/// A Mamba-3 mixer's weights (shared with the model) and its state.
pub(crate) struct FusedMamba3 {
    w: Weights,
    heads: Vec<HeadState>,
}

/// What one block of tokens gives every head: the projections and B, C
/// normalised over the state, (len, R, G, N) each, and π·tanh(φ), (len, S).
struct Block<'a> {
    proj: &'a [f32],
    b: Vec<f32>,
    c: Vec<f32>,
    phi: Vec<f32>,
}

impl Weights {
    /// Width of in_proj's output.
    fn width(&self) -> usize {
        let e = self.heads * self.headdim;
        2 * e + 2 * self.rank * self.groups * self.d_state + 3 * self.heads + self.angles
    }

    /// The start of B in a projected row.
    fn b_offset(&self) -> usize {
        2 * self.heads * self.headdim
    }

    /// Each (R, G) slice of `proj` rows at `offset` RMS-normalised by
    /// `(weight, eps)`.
    fn normalised(&self, proj: &[f32], offset: usize, (weight, eps): &(Vec<f32>, f32)) -> Vec<f32> {
        let n = self.d_state;
        let bc = self.rank * self.groups * n;
        let rows = proj.len() / self.width();
        let mut values = vec![0.0; rows * bc];
        for (row, out) in proj
            .chunks_exact(self.width())
            .zip(values.chunks_exact_mut(bc))
        {
            for (v, o) in row[offset..offset + bc]
                .chunks_exact(n)
                .zip(out.chunks_exact_mut(n))
            {
                rms_norm(v, weight, *eps, o);
            }
        }
        values
    }

    /// Rotates pairs of `v` (N) by θ (S): SISO pairs (2i, 2i + 1), MIMO
    /// (i, i + N/2).
    fn rotate(&self, v: &mut [f32], theta: &[f32]) {
        let half = self.d_state / 2;
        for (i, &angle) in theta.iter().enumerate() {
            let (a, b) = if self.mimo.is_some() {
                (i, i + half)
            } else {
                (2 * i, 2 * i + 1)
            };
            let (sin, cos) = angle.sin_cos();
            let (x, y) = (v[a], v[b]);
            v[a] = x * cos - y * sin;
            v[b] = x * sin + y * cos;
        }
    }

    /// One head over the block: advances `state`, writes the gated,
    /// rank-contracted outputs to `y` (len, P).
    fn head(&self, head: usize, block: &Block<'_>, state: &mut HeadState, y: &mut [f32]) {
        let (p, n, r, s) = (self.headdim, self.d_state, self.rank, self.angles);
        let (e, width) = (self.heads * p, self.width());
        let group = head / (self.heads / self.groups);
        let dt_at = self.b_offset() + 2 * r * self.groups * n;
        let mut k = vec![0.0; r * n];
        let mut q = vec![0.0; r * n];
        let mut v = vec![0.0; r * p];
        let mut ys = vec![0.0; r * p];
        let mut normed = vec![0.0; p];
        for (t, y) in y.chunks_exact_mut(p).enumerate() {
            let row = &block.proj[t * width..(t + 1) * width];
            let dt = softplus(row[dt_at + head] + self.dt_bias[head]);
            let a_raw = row[dt_at + self.heads + head];
            let heavy = if a_raw >= 0.0 {
                1.0 + a_raw
            } else {
                1.0 / (1.0 - a_raw)
            };
            let alpha = (-heavy.max(self.a_floor) * dt).exp();
            let lambda = 1.0 / (1.0 + (-row[dt_at + 2 * self.heads + head]).exp());
            for (theta, phi) in state.theta.iter_mut().zip(&block.phi[t * s..(t + 1) * s]) {
                *theta += phi * dt;
            }
            for rank in 0..r {
                let at = ((t * r + rank) * self.groups + group) * n;
                let bias_at = (head * r + rank) * n;
                for (dst, src, bias) in [
                    (&mut k, &block.b, &self.b_bias),
                    (&mut q, &block.c, &self.c_bias),
                ] {
                    let dst = &mut dst[rank * n..(rank + 1) * n];
                    for ((d, s), b) in dst.iter_mut().zip(&src[at..at + n]).zip(&bias[bias_at..]) {
                        *d = s + b;
                    }
                    self.rotate(dst, &state.theta);
                }
                let x = &row[e + head * p..e + (head + 1) * p];
                let scale = self
                    .mimo
                    .as_ref()
                    .map(|m| &m[0][(head * r + rank) * p..][..p]);
                for (i, v) in v[rank * p..(rank + 1) * p].iter_mut().enumerate() {
                    *v = x[i] * scale.map_or(1.0, |s| s[i]);
                }
            }
            // h ← α (h + (1 − λ)Δ Σ v' ⊗ k') + λΔ Σ v ⊗ k, row by row, then
            // y_r = h·q_r + D v_r; the last update of a row returns h·q_0.
            let (previous, current) = ((1.0 - lambda) * dt, lambda * dt);
            let x_scale = |rank: usize, i: usize| {
                self.mimo
                    .as_ref()
                    .map_or(1.0, |m| m[0][(head * r + rank) * p + i])
            };
            for (i, hrow) in state.h.chunks_exact_mut(n).enumerate() {
                for rank in 0..r {
                    let kp = &state.k_prev[rank * n..(rank + 1) * n];
                    let scale = previous * state.v_prev[i] * x_scale(rank, i);
                    decay_update_dot(hrow, 1.0, scale, kp, kp);
                }
                for rank in 0..r {
                    let decay = if rank == 0 { alpha } else { 1.0 };
                    let kc = &k[rank * n..(rank + 1) * n];
                    let dot = decay_update_dot(hrow, decay, current * v[rank * p + i], kc, &q[..n]);
                    if rank + 1 == r {
                        ys[i] = dot;
                    }
                }
                for rank in 1..r {
                    let qr = &q[rank * n..(rank + 1) * n];
                    ys[rank * p + i] = hrow.iter().zip(qr).map(|(h, q)| h * q).sum();
                }
            }
            // Each rank's output gated (normalised first with the norm) and
            // contracted with mimo_o.
            y.iter_mut().for_each(|y| *y = 0.0);
            let z = &row[head * p..(head + 1) * p];
            for rank in 0..r {
                let out_r = &mut ys[rank * p..(rank + 1) * p];
                for (i, o) in out_r.iter_mut().enumerate() {
                    *o += self.d[head] * v[rank * p + i];
                }
                let at = (head * r + rank) * p;
                let out_r: &[f32] = match &self.norm {
                    Some((weight, eps)) => {
                        rms_norm(out_r, &weight[head * p..(head + 1) * p], *eps, &mut normed);
                        &normed
                    }
                    None => out_r,
                };
                for (i, (y, o)) in y.iter_mut().zip(out_r).enumerate() {
                    let (gate_scale, out_scale) = match &self.mimo {
                        Some(m) => (m[1][at + i], m[2][at + i]),
                        None => (1.0, 1.0),
                    };
                    *y += o * silu(z[i] * gate_scale) * out_scale;
                }
            }
            state.k_prev.copy_from_slice(&k);
            state
                .v_prev
                .copy_from_slice(&row[e + head * p..e + (head + 1) * p]);
        }
    }
}

impl FusedMamba3 {
    /// `None` unless every weight is an f32 tensor of the CPU backend;
    /// the projections are stored as `format`.
    pub(crate) fn new<B: Backend>(m: &Mamba3<B>, format: WeightFormat) -> Option<Self> {
        let (heads, p, n, r, s) = (
            m.nheads(),
            m.headdim,
            m.d_state,
            m.mimo_rank,
            m.num_rope_angles,
        );
        let mimo = match (&m.mimo_x, &m.mimo_z, &m.mimo_o) {
            (Some(x), Some(z), Some(o)) => Some([
                host_values(x.val())?,
                host_values(z.val())?,
                host_values(o.val())?,
            ]),
            _ => None,
        };
        let w = Weights {
            in_proj: Matrix::of(m.in_proj.weight.val(), format)?,
            dt_bias: host_values(m.dt_bias.val())?,
            b_bias: host_values(m.B_bias.val())?,
            c_bias: host_values(m.C_bias.val())?,
            b_norm: (host_values(m.B_norm.weight.val())?, m.B_norm.eps as f32),
            c_norm: (host_values(m.C_norm.weight.val())?, m.C_norm.eps as f32),
            d: host_values(m.D.val())?,
            mimo,
            norm: match &m.norm {
                Some(norm) => Some((host_values(norm.weight.val())?, norm.eps as f32)),
                None => None,
            },
            out_proj: Matrix::of(m.out_proj.weight.val(), format)?,
            a_floor: m.a_floor as f32,
            heads,
            headdim: p,
            d_state: n,
            groups: m.ngroups,
            rank: r,
            angles: s,
        };
        let heads = (0..heads)
            .map(|_| HeadState {
                theta: vec![0.0; s],
                h: vec![0.0; p * n],
                k_prev: vec![0.0; r * n],
                v_prev: vec![0.0; p],
            })
            .collect();
        Some(Self { w, heads })
    }

    /// Takes the state of sequence 0 of `state` (batch 1).
    pub(crate) fn load_state<B: Backend>(&mut self, state: &Mamba3State<B>) -> Result<()> {
        let not_f32 = || Error::config("state", "the fused decoder reads f32 CPU tensors only");
        let theta = host_values(state.angle.clone()).ok_or_else(not_f32)?;
        let ssm = host_values(state.ssm.clone()).ok_or_else(not_f32)?;
        let k = host_values(state.k.clone()).ok_or_else(not_f32)?;
        let v = host_values(state.v.clone()).ok_or_else(not_f32)?;
        let w = &self.w;
        let (heads, p, n, r, s) = (w.heads, w.headdim, w.d_state, w.rank, w.angles);
        if theta.len() != heads * s
            || ssm.len() != heads * p * n
            || k.len() != r * heads * n
            || v.len() != heads * p
        {
            return Err(Error::shape(
                "Mamba-3 state (batch 1)",
                &[1, heads, p, n],
                &state.ssm.dims(),
            ));
        }
        for (head, st) in self.heads.iter_mut().enumerate() {
            st.theta.copy_from_slice(&theta[head * s..(head + 1) * s]);
            st.h.copy_from_slice(&ssm[head * p * n..(head + 1) * p * n]);
            st.v_prev.copy_from_slice(&v[head * p..(head + 1) * p]);
            for rank in 0..r {
                st.k_prev[rank * n..(rank + 1) * n]
                    .copy_from_slice(&k[(rank * heads + head) * n..][..n]);
            }
        }
        Ok(())
    }

    /// out = mixer(x) for `len` tokens, advancing the state; x, out (len, d_model).
    pub(crate) fn forward(&mut self, len: usize, x: &[f32], out: &mut [f32]) {
        let w = &self.w;
        let (heads, p) = (w.heads, w.headdim);
        let width = w.width();
        let mut proj = vec![0.0; len * width];
        w.in_proj.matmul_t(len, x, None, &mut proj);
        let bc = w.rank * w.groups * w.d_state;
        let block = Block {
            proj: &proj,
            b: w.normalised(&proj, w.b_offset(), &w.b_norm),
            c: w.normalised(&proj, w.b_offset() + bc, &w.c_norm),
            phi: proj
                .chunks_exact(width)
                .flat_map(|row| {
                    row[width - w.angles..]
                        .iter()
                        .map(|a| std::f32::consts::PI * a.tanh())
                })
                .collect(),
        };
        // y head-major (heads, len, P), then (len, heads·P).
        let mut y = vec![0.0; heads * len * p];
        y.par_chunks_mut(len * p)
            .zip(self.heads.par_iter_mut())
            .enumerate()
            .for_each(|(head, (y, state))| w.head(head, &block, state, y));
        let mut rows = vec![0.0; y.len()];
        for head in 0..heads {
            for t in 0..len {
                rows[(t * heads + head) * p..][..p]
                    .copy_from_slice(&y[(head * len + t) * p..][..p]);
            }
        }
        w.out_proj.matmul_t(len, &rows, None, out);
    }
}
