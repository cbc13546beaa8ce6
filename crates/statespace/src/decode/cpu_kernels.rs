//! The f32 CPU building blocks of a token block: products of a block with
//! a weight matrix, the depthwise convolution, RMSNorm, and the scalar
//! activations (matrix–vector products are in [`super::gemv`]).

use super::gemv::{add_bias, gemv};

use crate::ops::support::fast_math::exp_f32;

/// Y = X Wᵀ (+ b) for a block of `rows` tokens: X (rows, d_in) row-major,
/// W (d_out, d_in) as [`crate::layers::linear::Linear`] stores it, Y (rows,
/// d_out). A single row is a matrix–vector product; more run as a GEMM on
/// the rayon pool.
pub(crate) fn matmul_t(rows: usize, x: &[f32], w: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let d_in = x.len() / rows.max(1);
    let d_out = y.len() / rows.max(1);
    debug_assert_eq!(w.len(), d_in * d_out);
    if rows == 1 {
        gemv(w, x, bias, y);
        return;
    }
    let lhs = faer::MatRef::from_row_major_slice(x, rows, d_in);
    let rhs = faer::MatRef::from_row_major_slice(w, d_out, d_in).transpose();
    let dst = faer::MatMut::from_row_major_slice_mut(y, rows, d_out);
    faer::linalg::matmul::matmul(
        dst,
        faer::Accum::Replace,
        lhs,
        rhs,
        1.0f32,
        faer::Par::rayon(0),
    );
    if let Some(b) = bias {
        y.chunks_exact_mut(d_out)
            .for_each(|row| add_bias(row, Some(b)));
    }
}

/// A depthwise causal convolution over a block of tokens, channel-last:
/// `input` (L, C), `taps` (K, C) (tap k of every channel contiguous), `state`
/// (C, K − 1) the previous K − 1 inputs oldest first, updated to the last
/// K − 1 inputs; `out` (L, C) = bias + Σ_k taps[k] ⊙ x[t − (K − 1) + k].
pub(crate) fn conv_block(
    channels: usize,
    input: &[f32],
    state: &mut [f32],
    taps: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
) {
    let k = taps.len() / channels;
    let hist = k - 1;
    let len = input.len() / channels;
    for (t, row) in out.chunks_exact_mut(channels).enumerate() {
        match bias {
            Some(b) => row.copy_from_slice(b),
            None => row.iter_mut().for_each(|v| *v = 0.0),
        }
        for tap in 0..k {
            let w = &taps[tap * channels..(tap + 1) * channels];
            // This tap reads time t − (K − 1) + tap.
            let src = t + tap;
            if src >= hist {
                let x = &input[(src - hist) * channels..(src - hist + 1) * channels];
                for ((o, w), x) in row.iter_mut().zip(w).zip(x) {
                    *o += w * x;
                }
            } else {
                for (c, (o, w)) in row.iter_mut().zip(w).enumerate() {
                    *o += w * state[c * hist + src];
                }
            }
        }
    }
    for c in 0..channels {
        let old = &mut state[c * hist..(c + 1) * hist];
        let kept = hist.saturating_sub(len);
        old.copy_within(hist - kept.., 0);
        for j in kept..hist {
            old[j] = input[(len + j - hist) * channels + c];
        }
    }
}

/// out = x / √(mean(x²) + ε) · weight.
pub(crate) fn rms_norm(x: &[f32], weight: &[f32], eps: f32, out: &mut [f32]) {
    let mean_sq = x.iter().map(|v| v * v).sum::<f32>() / x.len() as f32;
    let scale = 1.0 / (mean_sq + eps).sqrt();
    for ((o, v), w) in out.iter_mut().zip(x).zip(weight) {
        *o = v * scale * w;
    }
}

/// x · σ(x).
#[inline(always)]
pub(crate) fn silu(x: f32) -> f32 {
    x / (1.0 + exp_f32(-x))
}

/// log(1 + eˣ), linear above 20 as in torch.
#[inline(always)]
pub(crate) fn softplus(x: f32) -> f32 {
    if x > 20.0 { x } else { x.exp().ln_1p() }
}

/// x (rows, cols) row-major → its transpose (cols, rows).
pub(crate) fn transpose(x: &[f32], rows: usize, cols: usize) -> Vec<f32> {
    let mut out = vec![0.0; x.len()];
    for r in 0..rows {
        for c in 0..cols {
            out[c * rows + r] = x[r * cols + c];
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One step of a depthwise causal convolution over `x` (channels), in
    /// place: x ← bias + Σ_k w[c, k] · window[c, k], where the window is the
    /// channel's K − 1 previous inputs (`state`, (channels, K − 1), oldest first)
    /// and x itself. The state then drops its oldest input and takes x.
    fn conv_step(x: &mut [f32], state: &mut [f32], weight: &[f32], bias: Option<&[f32]>) {
        let k = weight.len() / x.len();
        for (c, x) in x.iter_mut().enumerate() {
            let taps = &weight[c * k..(c + 1) * k];
            let hist = &mut state[c * (k - 1)..(c + 1) * (k - 1)];
            let mut y = bias.map_or(0.0, |b| b[c]);
            for (w, h) in taps.iter().zip(hist.iter()) {
                y += w * h;
            }
            y += taps[k - 1] * *x;
            hist.copy_within(1.., 0);
            hist[k - 2] = *x;
            *x = y;
        }
    }

    #[test]
    fn conv_block_equals_conv_steps() {
        let (channels, k) = (5, 4);
        let weight: Vec<f32> = (0..channels * k).map(|i| (i as f32 * 0.37).sin()).collect();
        let taps: Vec<f32> = (0..k * channels)
            .map(|i| weight[(i % channels) * k + i / channels])
            .collect();
        let bias: Vec<f32> = (0..channels).map(|i| i as f32 * 0.1).collect();
        for len in [1, 2, 7] {
            let input: Vec<f32> = (0..len * channels)
                .map(|i| (i as f32 * 0.9).cos())
                .collect();
            let start: Vec<f32> = (0..channels * (k - 1)).map(|i| i as f32 * 0.05).collect();
            let (mut s1, mut s2) = (start.clone(), start.clone());
            let mut block = vec![0.0; len * channels];
            conv_block(channels, &input, &mut s1, &taps, Some(&bias), &mut block);
            for t in 0..len {
                let mut x = input[t * channels..(t + 1) * channels].to_vec();
                conv_step(&mut x, &mut s2, &weight, Some(&bias));
                for c in 0..channels {
                    assert!(
                        (x[c] - block[t * channels + c]).abs() < 1e-6,
                        "len {len} t {t}"
                    );
                }
            }
            assert_eq!(s1, s2, "state after {len}");
        }
    }

    #[test]
    fn matmul_t_equals_gemv_per_row() {
        let (rows, d_in, d_out) = (6, 19, 11);
        let x: Vec<f32> = (0..rows * d_in).map(|i| (i as f32 * 0.3).sin()).collect();
        let w: Vec<f32> = (0..d_out * d_in).map(|i| (i as f32 * 0.7).cos()).collect();
        let b: Vec<f32> = (0..d_out).map(|i| i as f32).collect();
        let mut y = vec![0.0; rows * d_out];
        matmul_t(rows, &x, &w, Some(&b), &mut y);
        for r in 0..rows {
            let mut want = vec![0.0; d_out];
            gemv(&w, &x[r * d_in..(r + 1) * d_in], Some(&b), &mut want);
            for (a, b) in y[r * d_out..(r + 1) * d_out].iter().zip(&want) {
                assert!((a - b).abs() < 1e-4 * (1.0 + b.abs()), "{a} vs {b}");
            }
        }
    }

    #[test]
    fn conv_step_shifts_the_window() {
        // One channel, K = 3: y = 1·h0 + 2·h1 + 3·x + 0.5.
        let mut state = vec![10.0, 20.0];
        let mut x = vec![1.0];
        conv_step(&mut x, &mut state, &[1.0, 2.0, 3.0], Some(&[0.5]));
        assert_eq!(x, vec![10.0 + 40.0 + 3.0 + 0.5]);
        assert_eq!(state, vec![20.0, 1.0]);
    }
}
