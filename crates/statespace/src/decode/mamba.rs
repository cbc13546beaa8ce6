//! A Mamba mixer over a block of tokens on host f32 memory (batch 1): the
//! same arithmetic as [`crate::layers::mamba::Mamba::forward_with_state`]
//! without a tensor op per line. One token is a decode step; more are a
//! prefill chunk.

use burn::tensor::backend::Backend;
use rayon::prelude::*;

use super::cpu_kernels::{conv_block, silu, softplus, transpose};
use super::matrix::{Matrix, WeightFormat};
use super::shared::{Shared, host_values};
use crate::error::{Error, Result};
use crate::layers::mamba::{Mamba, MambaState};
use crate::ops::support::fast_math::exp_f32;

/// Channels per parallel task of the scan over a block.
const CHANNEL_BLOCK: usize = 32;
/// Channel-steps per parallel task at least (one token: 384 channels).
const SCAN_TASK_MIN: usize = 384;

/// A Mamba mixer's weights (shared with the model) and its state.
pub(crate) struct FusedMamba {
    in_proj: Matrix,
    in_bias: Option<Shared>,
    /// Convolution taps transposed to (K, d_inner).
    conv_taps: Vec<f32>,
    conv_b: Option<Shared>,
    x_proj: Matrix,
    dt_proj: Matrix,
    dt_bias: Option<Shared>,
    /// A = −exp(A_log), (d_inner, N).
    a: Vec<f32>,
    d: Shared,
    out_proj: Matrix,
    out_bias: Option<Shared>,
    d_inner: usize,
    d_state: usize,
    dt_rank: usize,
    /// (d_inner, K − 1), oldest first.
    conv_state: Vec<f32>,
    /// (d_inner, N).
    ssm_state: Vec<f32>,
}

impl FusedMamba {
    /// `None` unless every weight is an f32 tensor of the CPU backend;
    /// the projections are stored as `format`.
    pub(crate) fn new<B: Backend>(m: &Mamba<B>, format: WeightFormat) -> Option<Self> {
        let opt = |p: &Option<burn::module::Param<burn::tensor::Tensor<B, 1>>>| match p {
            Some(p) => Shared::of(p.val()).map(Some),
            None => Some(None),
        };
        let [d_inner, d_state] = m.A_log.val().dims();
        let dt_rank = m.dt_proj.weight.val().dims()[1];
        let k = m.conv1d.width();
        let a = host_values(m.A_log.val())?
            .into_iter()
            .map(|v| -v.exp())
            .collect();
        let conv_taps = transpose(&host_values(m.conv1d.weight.val())?, d_inner, k);
        Some(Self {
            in_proj: Matrix::of(m.in_proj.weight.val(), format)?,
            in_bias: opt(&m.in_proj.bias)?,
            conv_taps,
            conv_b: opt(&m.conv1d.bias)?,
            x_proj: Matrix::of(m.x_proj.weight.val(), format)?,
            dt_proj: Matrix::of(m.dt_proj.weight.val(), format)?,
            dt_bias: opt(&m.dt_proj.bias)?,
            a,
            d: Shared::of(m.D.val())?,
            out_proj: Matrix::of(m.out_proj.weight.val(), format)?,
            out_bias: opt(&m.out_proj.bias)?,
            d_inner,
            d_state,
            dt_rank,
            conv_state: vec![0.0; d_inner * (k - 1)],
            ssm_state: vec![0.0; d_inner * d_state],
        })
    }

    /// Takes the state of sequence 0 of `state` (batch 1).
    pub(crate) fn load_state<B: Backend>(&mut self, state: &MambaState<B>) -> Result<()> {
        let not_f32 = || Error::config("state", "the fused decoder reads f32 CPU tensors only");
        let conv = host_values(state.conv.clone()).ok_or_else(not_f32)?;
        let ssm = host_values(state.ssm.clone()).ok_or_else(not_f32)?;
        if conv.len() != self.conv_state.len() || ssm.len() != self.ssm_state.len() {
            return Err(Error::shape(
                "Mamba state (batch 1)",
                &[1, self.d_inner, self.d_state],
                &state.ssm.dims(),
            ));
        }
        self.conv_state = conv;
        self.ssm_state = ssm;
        Ok(())
    }

    /// out = mixer(x) for `len` tokens, advancing the state; x, out (len, d_model).
    pub(crate) fn forward(&mut self, len: usize, x: &[f32], out: &mut [f32]) {
        let (di, n, r) = (self.d_inner, self.d_state, self.dt_rank);
        let mut xz = vec![0.0; len * 2 * di];
        self.in_proj
            .matmul_t(len, x, self.in_bias.as_ref().map(Shared::slice), &mut xz);
        let raw: Vec<f32> = xz
            .chunks_exact(2 * di)
            .flat_map(|row| &row[..di])
            .copied()
            .collect();
        let mut u = vec![0.0; len * di];
        conv_block(
            di,
            &raw,
            &mut self.conv_state,
            &self.conv_taps,
            self.conv_b.as_ref().map(Shared::slice),
            &mut u,
        );
        u.iter_mut().for_each(|v| *v = silu(*v));
        let width = r + 2 * n;
        let mut x_dbl = vec![0.0; len * width];
        self.x_proj.matmul_t(len, &u, None, &mut x_dbl);
        let dt_low: Vec<f32> = x_dbl
            .chunks_exact(width)
            .flat_map(|row| &row[..r])
            .copied()
            .collect();
        let mut delta = vec![0.0; len * di];
        self.dt_proj.matmul_t(
            len,
            &dt_low,
            self.dt_bias.as_ref().map(Shared::slice),
            &mut delta,
        );
        let scan = Scan {
            len,
            a: &self.a,
            x_dbl: &x_dbl,
            b_at: r,
            d: self.d.slice(),
            delta: &delta,
            u: &u,
            xz: &xz,
        };
        // y channel-major (d_inner, len): each channel's outputs contiguous.
        let mut y = vec![0.0; di * len];
        let block = CHANNEL_BLOCK.max(SCAN_TASK_MIN.div_ceil(len));
        y.par_chunks_mut(block * len)
            .zip(self.ssm_state.par_chunks_mut(block * n))
            .enumerate()
            .for_each(|(i, (y, h))| scan.run(i * block, h, y));
        let y = if len == 1 { y } else { transpose(&y, di, len) };
        self.out_proj
            .matmul_t(len, &y, self.out_bias.as_ref().map(Shared::slice), out);
    }
}

/// The selective scan over a block, with its inputs in the layouts the
/// projections produced.
struct Scan<'a> {
    len: usize,
    /// (d_inner, N).
    a: &'a [f32],
    /// (len, dt_rank + 2N): δ, B, C per token.
    x_dbl: &'a [f32],
    /// Column of B in `x_dbl` (C follows it).
    b_at: usize,
    /// (d_inner).
    d: &'a [f32],
    /// Δ before softplus, (len, d_inner).
    delta: &'a [f32],
    /// The convolved input, (len, d_inner).
    u: &'a [f32],
    /// in_proj's output (len, 2·d_inner); the gate z is its second half.
    xz: &'a [f32],
}

impl Scan<'_> {
    /// Channels `first..` (as many as `h` holds, (·, N)) over every token:
    /// h ← e^{Δ·A} h + Δ·B·u and y = (C·h + D·u) · silu(z); y (channels, len).
    fn run(&self, first: usize, h: &mut [f32], y: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has both features, checked just above.
            unsafe { self.run_avx2(first, h, y) };
            return;
        }
        self.run_portable(first, h, y);
    }

    fn n(&self) -> usize {
        self.a.len() / self.d.len()
    }

    /// (Δ, u, C-and-B offset, gate) of channel `ch` at token t.
    fn inputs(&self, ch: usize, t: usize) -> (f32, f32, usize, f32) {
        let di = self.d.len();
        let width = self.x_dbl.len() / self.len;
        (
            softplus(self.delta[t * di + ch]),
            self.u[t * di + ch],
            t * width + self.b_at,
            silu(self.xz[t * 2 * di + di + ch]),
        )
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn run_avx2(&self, first: usize, h: &mut [f32], y: &mut [f32]) {
        use crate::ops::support::fast_math::avx2::exp;
        use std::arch::x86_64::*;
        const LANES: usize = 8;
        let n = self.n();
        let body = n - n % LANES;
        for (i, (h, y)) in h
            .chunks_exact_mut(n)
            .zip(y.chunks_exact_mut(self.len))
            .enumerate()
        {
            let ch = first + i;
            let a = &self.a[ch * n..(ch + 1) * n];
            for (t, y) in y.iter_mut().enumerate() {
                let (dt, u, at, gate) = self.inputs(ch, t);
                let (b, c) = (&self.x_dbl[at..at + n], &self.x_dbl[at + n..at + 2 * n]);
                let (dt_v, du_v) = (_mm256_set1_ps(dt), _mm256_set1_ps(dt * u));
                let mut acc = _mm256_setzero_ps();
                for s in (0..body).step_by(LANES) {
                    // SAFETY: s + LANES ≤ body ≤ n, the length of h, a, b and c.
                    unsafe {
                        let decay = exp(_mm256_mul_ps(dt_v, _mm256_loadu_ps(a.as_ptr().add(s))));
                        let input = _mm256_mul_ps(du_v, _mm256_loadu_ps(b.as_ptr().add(s)));
                        let state =
                            _mm256_fmadd_ps(decay, _mm256_loadu_ps(h.as_ptr().add(s)), input);
                        _mm256_storeu_ps(h.as_mut_ptr().add(s), state);
                        acc = _mm256_fmadd_ps(_mm256_loadu_ps(c.as_ptr().add(s)), state, acc);
                    }
                }
                let mut lanes = [0.0f32; LANES];
                // SAFETY: `lanes` holds LANES values.
                unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
                let mut sum: f32 = lanes.iter().sum();
                for j in body..n {
                    h[j] = exp_f32(dt * a[j]) * h[j] + dt * u * b[j];
                    sum += c[j] * h[j];
                }
                *y = (sum + self.d[ch] * u) * gate;
            }
        }
    }

    /// The portable loop.
    fn run_portable(&self, first: usize, h: &mut [f32], y: &mut [f32]) {
        let n = self.n();
        for (i, (h, y)) in h
            .chunks_exact_mut(n)
            .zip(y.chunks_exact_mut(self.len))
            .enumerate()
        {
            let ch = first + i;
            let a = &self.a[ch * n..(ch + 1) * n];
            for (t, y) in y.iter_mut().enumerate() {
                let (dt, u, at, gate) = self.inputs(ch, t);
                let (b, c) = (&self.x_dbl[at..at + n], &self.x_dbl[at + n..at + 2 * n]);
                let mut sum = 0.0;
                for j in 0..n {
                    h[j] = exp_f32(dt * a[j]) * h[j] + dt * u * b[j];
                    sum += c[j] * h[j];
                }
                *y = (sum + self.d[ch] * u) * gate;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_and_portable_scans_agree() {
        let (channels, n, r, len) = (5, 19, 3, 4);
        let values = |count: usize, k: f32| -> Vec<f32> {
            (0..count).map(|i| ((i as f32 + 1.0) * k).sin()).collect()
        };
        let a: Vec<f32> = values(channels * n, 0.37)
            .iter()
            .map(|v| -v.abs() - 0.1)
            .collect();
        let scan = Scan {
            len,
            a: &a,
            x_dbl: &values(len * (r + 2 * n), 0.7),
            b_at: r,
            d: &values(channels, 0.2),
            delta: &values(len * channels, 2.1),
            u: &values(len * channels, 0.9),
            xz: &values(len * 2 * channels, 1.7),
        };
        let mut h1 = values(channels * n, 0.11);
        let mut h2 = h1.clone();
        let (mut y1, mut y2) = (vec![0.0; channels * len], vec![0.0; channels * len]);
        scan.run(0, &mut h1, &mut y1);
        scan.run_portable(0, &mut h2, &mut y2);
        for (a, b) in y1.iter().zip(&y2).chain(h1.iter().zip(&h2)) {
            assert!((a - b).abs() < 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}
