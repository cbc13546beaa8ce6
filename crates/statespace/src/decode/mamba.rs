//! One-token step of a Mamba mixer on host f32 memory (batch 1), the same
//! arithmetic as [`crate::layers::mamba::Mamba::step`] without a tensor op
//! per line.

use burn::tensor::backend::Backend;

use super::kernels::{conv_step, gemv, silu, softplus};
use super::shared::{Shared, host_values};
use crate::error::{Error, Result};
use crate::layers::mamba::{Mamba, MambaState};
use crate::ops::fast_math::exp_f32;

/// A Mamba mixer's weights (shared with the model) and its state.
pub(crate) struct MambaStep {
    in_proj: Shared,
    in_bias: Option<Shared>,
    conv_w: Shared,
    conv_b: Option<Shared>,
    x_proj: Shared,
    dt_proj: Shared,
    dt_bias: Option<Shared>,
    /// A = −exp(A_log), (d_inner, N).
    a: Vec<f32>,
    d: Shared,
    out_proj: Shared,
    out_bias: Option<Shared>,
    d_inner: usize,
    d_state: usize,
    dt_rank: usize,
    /// (d_inner, K − 1), oldest first.
    conv_state: Vec<f32>,
    /// (d_inner, N).
    ssm_state: Vec<f32>,
    // Scratch.
    xz: Vec<f32>,
    x_dbl: Vec<f32>,
    delta: Vec<f32>,
    y: Vec<f32>,
}

impl MambaStep {
    /// `None` unless every weight is an f32 tensor of the CPU backend.
    pub(crate) fn new<B: Backend>(m: &Mamba<B>) -> Option<Self> {
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
        Some(Self {
            in_proj: Shared::of(m.in_proj.weight.val())?,
            in_bias: opt(&m.in_proj.bias)?,
            conv_w: Shared::of(m.conv1d.weight.val())?,
            conv_b: opt(&m.conv1d.bias)?,
            x_proj: Shared::of(m.x_proj.weight.val())?,
            dt_proj: Shared::of(m.dt_proj.weight.val())?,
            dt_bias: opt(&m.dt_proj.bias)?,
            a,
            d: Shared::of(m.D.val())?,
            out_proj: Shared::of(m.out_proj.weight.val())?,
            out_bias: opt(&m.out_proj.bias)?,
            d_inner,
            d_state,
            dt_rank,
            conv_state: vec![0.0; d_inner * (k - 1)],
            ssm_state: vec![0.0; d_inner * d_state],
            xz: vec![0.0; 2 * d_inner],
            x_dbl: vec![0.0; dt_rank + 2 * d_state],
            delta: vec![0.0; d_inner],
            y: vec![0.0; d_inner],
        })
    }

    /// Takes the state of sequence 0 of `state` (batch 1).
    pub(crate) fn load_state<B: Backend>(&mut self, state: &MambaState<B>) -> Result<()> {
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

    /// out = mixer(x) for one token, advancing the state; x, out (d_model).
    pub(crate) fn step(&mut self, x: &[f32], out: &mut [f32]) {
        let (di, n, r) = (self.d_inner, self.d_state, self.dt_rank);
        gemv(
            self.in_proj.slice(),
            x,
            self.in_bias.as_ref().map(Shared::slice),
            &mut self.xz,
        );
        let (xs, z) = self.xz.split_at_mut(di);
        conv_step(
            xs,
            &mut self.conv_state,
            self.conv_w.slice(),
            self.conv_b.as_ref().map(Shared::slice),
        );
        xs.iter_mut().for_each(|v| *v = silu(*v));
        gemv(self.x_proj.slice(), xs, None, &mut self.x_dbl);
        let (dt_low, bc) = self.x_dbl.split_at(r);
        let (b, c) = bc.split_at(n);
        gemv(
            self.dt_proj.slice(),
            dt_low,
            self.dt_bias.as_ref().map(Shared::slice),
            &mut self.delta,
        );
        let scan = Scan {
            a: &self.a,
            b,
            c,
            d: self.d.slice(),
            delta: &self.delta,
            x: xs,
            z,
        };
        scan.run(&mut self.ssm_state, &mut self.y);
        gemv(
            self.out_proj.slice(),
            &self.y,
            self.out_bias.as_ref().map(Shared::slice),
            out,
        );
    }
}

/// The selective-scan step of every channel, with its inputs.
struct Scan<'a> {
    /// (d_inner, N).
    a: &'a [f32],
    /// (N).
    b: &'a [f32],
    /// (N).
    c: &'a [f32],
    /// (d_inner).
    d: &'a [f32],
    /// Δ before softplus, (d_inner).
    delta: &'a [f32],
    /// (d_inner).
    x: &'a [f32],
    /// Gate, (d_inner).
    z: &'a [f32],
}

impl Scan<'_> {
    /// h ← e^{Δ·A} h + Δ·B·x and y = (C·h + D·x) · silu(z), per channel;
    /// h (d_inner, N), y (d_inner).
    fn run(&self, h: &mut [f32], y: &mut [f32]) {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has both features, checked just above.
            unsafe { self.run_avx2(h, y) };
            return;
        }
        self.run_portable(h, y);
    }

    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    fn run_avx2(&self, h: &mut [f32], y: &mut [f32]) {
        use crate::ops::fast_math::avx2::exp;
        use std::arch::x86_64::*;
        const LANES: usize = 8;
        let n = self.b.len();
        let body = n - n % LANES;
        for (ch, (y, h)) in y.iter_mut().zip(h.chunks_exact_mut(n)).enumerate() {
            let dt = softplus(self.delta[ch]);
            let u = self.x[ch];
            let a = &self.a[ch * n..(ch + 1) * n];
            let (dt_v, du_v) = (_mm256_set1_ps(dt), _mm256_set1_ps(dt * u));
            let mut acc = _mm256_setzero_ps();
            for s in (0..body).step_by(LANES) {
                // SAFETY: s + LANES ≤ body ≤ n, the length of h, a, B and C.
                unsafe {
                    let decay = exp(_mm256_mul_ps(dt_v, _mm256_loadu_ps(a.as_ptr().add(s))));
                    let input = _mm256_mul_ps(du_v, _mm256_loadu_ps(self.b.as_ptr().add(s)));
                    let state = _mm256_fmadd_ps(decay, _mm256_loadu_ps(h.as_ptr().add(s)), input);
                    _mm256_storeu_ps(h.as_mut_ptr().add(s), state);
                    acc = _mm256_fmadd_ps(_mm256_loadu_ps(self.c.as_ptr().add(s)), state, acc);
                }
            }
            let mut lanes = [0.0f32; LANES];
            // SAFETY: `lanes` holds LANES values.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
            let mut sum: f32 = lanes.iter().sum();
            for j in body..n {
                h[j] = exp_f32(dt * a[j]) * h[j] + dt * u * self.b[j];
                sum += self.c[j] * h[j];
            }
            *y = (sum + self.d[ch] * u) * silu(self.z[ch]);
        }
    }

    /// The portable loop.
    fn run_portable(&self, h: &mut [f32], y: &mut [f32]) {
        let n = self.b.len();
        for (ch, (y, h)) in y.iter_mut().zip(h.chunks_exact_mut(n)).enumerate() {
            let dt = softplus(self.delta[ch]);
            let u = self.x[ch];
            let a = &self.a[ch * n..(ch + 1) * n];
            let mut sum = 0.0;
            for j in 0..n {
                h[j] = exp_f32(dt * a[j]) * h[j] + dt * u * self.b[j];
                sum += self.c[j] * h[j];
            }
            *y = (sum + self.d[ch] * u) * silu(self.z[ch]);
        }
    }
}

fn not_f32() -> Error {
    Error::config("state", "the fused decoder reads f32 CPU tensors only")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_and_portable_scans_agree() {
        let (channels, n) = (5, 19);
        let values = |len: usize, k: f32| -> Vec<f32> {
            (0..len).map(|i| ((i as f32 + 1.0) * k).sin()).collect()
        };
        let a: Vec<f32> = values(channels * n, 0.37)
            .iter()
            .map(|v| -v.abs() - 0.1)
            .collect();
        let scan = Scan {
            a: &a,
            b: &values(n, 0.7),
            c: &values(n, 1.3),
            d: &values(channels, 0.2),
            delta: &values(channels, 2.1),
            x: &values(channels, 0.9),
            z: &values(channels, 1.7),
        };
        let mut h1 = values(channels * n, 0.11);
        let mut h2 = h1.clone();
        let (mut y1, mut y2) = (vec![0.0; channels], vec![0.0; channels]);
        scan.run(&mut h1, &mut y1);
        scan.run_portable(&mut h2, &mut y2);
        for (a, b) in y1.iter().zip(&y2).chain(h1.iter().zip(&h2)) {
            assert!((a - b).abs() < 1e-5 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}
