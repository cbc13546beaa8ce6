//! A Mamba-2 mixer over a block of tokens on host f32 memory (batch 1), the
//! same arithmetic as [`crate::layers::mamba2::Mamba2::forward_with_state`]
//! (one token is a decode step, more a prefill chunk), per token:
//!
//!   h_head ← e^{Δ·A} h_head + (Δ·x) ⊗ B_group,   y = h_head · C_group + D·x,
//!
//! then the gated RMSNorm (or y·silu(z)) and out_proj.

use burn::tensor::backend::Backend;
use rayon::prelude::*;

use super::cpu_kernels::{conv_block, silu, softplus, transpose};
use super::matrix::{Matrix, WeightFormat};
use super::shared::{Shared, host_values};
use crate::error::{Error, Result};
use crate::layers::mamba2::{Mamba2, Mamba2State};
use crate::ops::support::row_update::decay_update_dot;

/// The gated RMSNorm's parameters.
struct GatedNorm {
    weight: Shared,
    eps: f32,
    groups: usize,
    before_gate: bool,
}

/// A Mamba-2 mixer's weights (shared with the model) and its state.
pub(crate) struct FusedMamba2 {
    in_proj: Matrix,
    in_bias: Option<Shared>,
    /// Convolution taps transposed to (K, conv_dim).
    conv_taps: Vec<f32>,
    conv_b: Option<Shared>,
    dt_bias: Vec<f32>,
    /// A = −exp(A_log) per head.
    a: Vec<f32>,
    d: Vec<f32>,
    norm: Option<GatedNorm>,
    out_proj: Matrix,
    out_bias: Option<Shared>,
    dt_limit: (f32, f32),
    heads: usize,
    headdim: usize,
    d_state: usize,
    groups: usize,
    /// (conv_dim, K − 1), oldest first.
    conv_state: Vec<f32>,
    /// (heads, headdim, N).
    ssm_state: Vec<f32>,
}

impl FusedMamba2 {
    /// `None` unless every weight is an f32 tensor of the CPU backend and
    /// in_proj has no extra MLP channels; the projections are stored as
    /// `format`.
    pub(crate) fn new<B: Backend>(m: &Mamba2<B>, format: WeightFormat) -> Option<Self> {
        let opt = |p: &Option<burn::module::Param<burn::tensor::Tensor<B, 1>>>| match p {
            Some(p) => Shared::of(p.val()).map(Some),
            None => Some(None),
        };
        let heads = m.nheads();
        let (p, n, g) = (m.headdim, m.d_state, m.ngroups);
        let d_inner = heads * p;
        let [conv_dim, _, k] = m.conv1d.weight.val().dims();
        if m.in_proj.d_out() != d_inner + conv_dim + heads {
            return None;
        }
        let norm = match &m.norm {
            Some(norm) => Some(GatedNorm {
                weight: Shared::of(norm.weight.val())?,
                eps: norm.eps as f32,
                groups: norm.n_groups,
                before_gate: norm.norm_before_gate,
            }),
            None => None,
        };
        Some(Self {
            in_proj: Matrix::of(m.in_proj.weight.val(), format)?,
            in_bias: opt(&m.in_proj.bias)?,
            conv_taps: transpose(&host_values(m.conv1d.weight.val())?, conv_dim, k),
            conv_b: opt(&m.conv1d.bias)?,
            dt_bias: host_values(m.dt_bias.val())?,
            a: host_values(m.A_log.val())?
                .into_iter()
                .map(|v| -v.exp())
                .collect(),
            d: host_values(m.D.val())?,
            norm,
            out_proj: Matrix::of(m.out_proj.weight.val(), format)?,
            out_bias: opt(&m.out_proj.bias)?,
            dt_limit: (m.dt_limit_min as f32, m.dt_limit_max as f32),
            heads,
            headdim: p,
            d_state: n,
            groups: g,
            conv_state: vec![0.0; conv_dim * (k - 1)],
            ssm_state: vec![0.0; heads * p * n],
        })
    }

    /// Takes the state of sequence 0 of `state` (batch 1).
    pub(crate) fn load_state<B: Backend>(&mut self, state: &Mamba2State<B>) -> Result<()> {
        let not_f32 = || Error::config("state", "the fused decoder reads f32 CPU tensors only");
        let conv = host_values(state.conv.clone()).ok_or_else(not_f32)?;
        let ssm = host_values(state.ssm.clone()).ok_or_else(not_f32)?;
        if conv.len() != self.conv_state.len() || ssm.len() != self.ssm_state.len() {
            return Err(Error::shape(
                "Mamba-2 state (batch 1)",
                &[1, self.heads, self.headdim, self.d_state],
                &state.ssm.dims(),
            ));
        }
        self.conv_state = conv;
        self.ssm_state = ssm;
        Ok(())
    }

    /// out = mixer(x) for `len` tokens, advancing the state; x, out (len, d_model).
    pub(crate) fn forward(&mut self, len: usize, x: &[f32], out: &mut [f32]) {
        let (heads, p, n, g) = (self.heads, self.headdim, self.d_state, self.groups);
        let d_inner = heads * p;
        let conv_dim = d_inner + 2 * g * n;
        let width = d_inner + conv_dim + heads;
        let mut proj = vec![0.0; len * width];
        self.in_proj
            .matmul_t(len, x, self.in_bias.as_ref().map(Shared::slice), &mut proj);
        let raw: Vec<f32> = proj
            .chunks_exact(width)
            .flat_map(|row| &row[d_inner..d_inner + conv_dim])
            .copied()
            .collect();
        let mut xbc = vec![0.0; len * conv_dim];
        conv_block(
            conv_dim,
            &raw,
            &mut self.conv_state,
            &self.conv_taps,
            self.conv_b.as_ref().map(Shared::slice),
            &mut xbc,
        );
        xbc.iter_mut().for_each(|v| *v = silu(*v));
        let (lo, hi) = self.dt_limit;
        let (a, d, dt_bias) = (&self.a, &self.d, &self.dt_bias);
        let (proj_ref, xbc_ref) = (&proj, &xbc);
        // y head-major (heads, len, headdim): each head's outputs contiguous.
        let mut y = vec![0.0; heads * len * p];
        y.par_chunks_mut(len * p)
            .zip(self.ssm_state.par_chunks_mut(p * n))
            .enumerate()
            .for_each(|(head, (y, h))| {
                let group = head / (heads / g);
                for (t, y) in y.chunks_exact_mut(p).enumerate() {
                    let dt_raw = proj_ref[t * width + d_inner + conv_dim + head];
                    let dt = softplus(dt_raw + dt_bias[head]).clamp(lo, hi);
                    let decay = (dt * a[head]).exp();
                    let row = &xbc_ref[t * conv_dim..(t + 1) * conv_dim];
                    let xs = &row[head * p..(head + 1) * p];
                    let b = &row[d_inner + group * n..d_inner + (group + 1) * n];
                    let c = &row[d_inner + (g + group) * n..d_inner + (g + group + 1) * n];
                    for (i, (y, h)) in y.iter_mut().zip(h.chunks_exact_mut(n)).enumerate() {
                        *y = decay_update_dot(h, decay, xs[i] * dt, b, c) + xs[i] * d[head];
                    }
                }
            });
        // (heads, len, P) → (len, heads·P).
        let mut y = if heads == 1 || len == 1 {
            y
        } else {
            transpose_blocks(&y, heads, len, p)
        };
        for (t, y) in y.chunks_exact_mut(d_inner).enumerate() {
            let z = &proj[t * width..t * width + d_inner];
            match &self.norm {
                Some(norm) => gated_norm(y, z, norm),
                None => y.iter_mut().zip(z).for_each(|(y, z)| *y *= silu(*z)),
            }
        }
        self.out_proj
            .matmul_t(len, &y, self.out_bias.as_ref().map(Shared::slice), out);
    }
}

/// (A, B, P) → (B, A, P): swaps the outer two axes of blocks of P values.
fn transpose_blocks(x: &[f32], outer: usize, inner: usize, p: usize) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for a in 0..outer {
        for b in 0..inner {
            out[(b * outer + a) * p..][..p].copy_from_slice(&x[(a * inner + b) * p..][..p]);
        }
    }
    out
}

/// y ← rmsnorm_groups(y · silu(z)) · w, or rmsnorm_groups(y) · w · silu(z)
/// when normalising before the gate.
fn gated_norm(y: &mut [f32], z: &[f32], norm: &GatedNorm) {
    if !norm.before_gate {
        y.iter_mut().zip(z).for_each(|(y, z)| *y *= silu(*z));
    }
    let width = y.len() / norm.groups;
    let weight = norm.weight.slice();
    for (group, ys) in y.chunks_exact_mut(width).enumerate() {
        let mean_sq = ys.iter().map(|v| v * v).sum::<f32>() / width as f32;
        let scale = 1.0 / (mean_sq + norm.eps).sqrt();
        let w = &weight[group * width..(group + 1) * width];
        ys.iter_mut().zip(w).for_each(|(y, w)| *y = *y * scale * w);
    }
    if norm.before_gate {
        y.iter_mut().zip(z).for_each(|(y, z)| *y *= silu(*z));
    }
}
