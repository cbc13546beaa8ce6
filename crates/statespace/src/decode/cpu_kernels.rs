//! The f32 CPU building blocks of a one-token step: matrix–vector products
//! split across the rayon pool, RMSNorm, and the scalar activations.

use rayon::prelude::*;

use crate::ops::support::fast_math::exp_f32;

/// Rows of W one inner loop reads at a time (x is loaded once for all).
const ROW_GROUP: usize = 4;
/// f32 lanes of the accumulators (one AVX register).
const LANES: usize = 8;
/// Matrices smaller than this (in values) run on the calling thread: waking
/// the pool would cost more than it saves.
const PARALLEL_MIN: usize = 1 << 16;

/// y = W x (+ b), W (rows, cols) row-major, x (cols), y (rows).
///
/// Rows are split into blocks spread over the rayon pool; each block streams
/// its rows of W once, so the product runs at memory bandwidth.
pub(crate) fn gemv(w: &[f32], x: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let cols = x.len();
    let rows = y.len();
    debug_assert_eq!(w.len(), rows * cols);
    let threads = rayon::current_num_threads().max(1);
    if w.len() < PARALLEL_MIN || threads == 1 {
        rows_times(w, x, y);
        add_bias(y, bias);
        return;
    }
    // About four blocks per thread, a whole number of row groups each.
    let block = rows
        .div_ceil(4 * threads)
        .next_multiple_of(ROW_GROUP)
        .max(4 * ROW_GROUP);
    y.par_chunks_mut(block)
        .zip(w.par_chunks(block * cols))
        .for_each(|(y, w)| rows_times(w, x, y));
    add_bias(y, bias);
}

fn add_bias(y: &mut [f32], bias: Option<&[f32]>) {
    if let Some(b) = bias {
        y.iter_mut().zip(b).for_each(|(y, b)| *y += b);
    }
}

/// y = W x for one block of rows, on the widest instructions available.
fn rows_times(w: &[f32], x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the feature, checked just above.
            unsafe { avx512::rows_times(w, x, y) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has both features, checked just above.
            unsafe { avx2::rows_times(w, x, y) };
            return;
        }
    }
    rows_times_portable(w, x, y);
}

/// The portable loop: LANES independent partial sums per row.
fn rows_times_portable(w: &[f32], x: &[f32], y: &mut [f32]) {
    let cols = x.len();
    let body = cols - cols % LANES;
    for (r, y) in y.iter_mut().enumerate() {
        let w_row = &w[r * cols..(r + 1) * cols];
        let mut acc = [0.0f32; LANES];
        for start in (0..body).step_by(LANES) {
            for lane in 0..LANES {
                acc[lane] += w_row[start + lane] * x[start + lane];
            }
        }
        let tail: f32 = (body..cols).map(|c| w_row[c] * x[c]).sum();
        *y = acc.iter().sum::<f32>() + tail;
    }
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::ROW_GROUP;
    use std::arch::x86_64::*;

    /// f32 lanes of an AVX-512 register.
    const WIDE: usize = 16;

    /// y = W x with ROW_GROUP rows per pass, sixteen columns per instruction.
    #[target_feature(enable = "avx512f")]
    pub(super) fn rows_times(w: &[f32], x: &[f32], y: &mut [f32]) {
        let cols = x.len();
        let body = cols - cols % WIDE;
        let rows = y.len();
        assert!(w.len() >= rows * cols);
        let tail = |r: usize| -> f32 { (body..cols).map(|c| w[r * cols + c] * x[c]).sum() };
        let mut row = 0;
        while row + ROW_GROUP <= rows {
            let mut acc = [_mm512_setzero_ps(); ROW_GROUP];
            let mut c = 0;
            while c < body {
                // SAFETY: c + WIDE ≤ body ≤ cols, and row + ROW_GROUP ≤
                // rows with w holding rows · cols values (asserted above).
                unsafe {
                    let xv = _mm512_loadu_ps(x.as_ptr().add(c));
                    for (g, acc) in acc.iter_mut().enumerate() {
                        let wv = _mm512_loadu_ps(w.as_ptr().add((row + g) * cols + c));
                        *acc = _mm512_fmadd_ps(wv, xv, *acc);
                    }
                }
                c += WIDE;
            }
            for (g, acc) in acc.iter().enumerate() {
                y[row + g] = _mm512_reduce_add_ps(*acc) + tail(row + g);
            }
            row += ROW_GROUP;
        }
        for (r, y) in y.iter_mut().enumerate().skip(row) {
            let mut acc = _mm512_setzero_ps();
            let mut c = 0;
            while c < body {
                // SAFETY: as above, for the single row r < rows.
                unsafe {
                    let xv = _mm512_loadu_ps(x.as_ptr().add(c));
                    let wv = _mm512_loadu_ps(w.as_ptr().add(r * cols + c));
                    acc = _mm512_fmadd_ps(wv, xv, acc);
                }
                c += WIDE;
            }
            *y = _mm512_reduce_add_ps(acc) + tail(r);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{LANES, ROW_GROUP};
    use std::arch::x86_64::*;

    /// Sum of the eight lanes.
    #[target_feature(enable = "avx2,fma")]
    fn horizontal_sum(v: __m256) -> f32 {
        let pair = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps::<1>(v));
        let pair = _mm_add_ps(pair, _mm_movehl_ps(pair, pair));
        _mm_cvtss_f32(_mm_add_ss(pair, _mm_movehdup_ps(pair)))
    }

    /// y = W x with ROW_GROUP rows per pass: each 8-wide slice of x is
    /// loaded once and multiplied into one accumulator per row.
    #[target_feature(enable = "avx2,fma")]
    pub(super) fn rows_times(w: &[f32], x: &[f32], y: &mut [f32]) {
        let cols = x.len();
        let body = cols - cols % LANES;
        let rows = y.len();
        assert!(w.len() >= rows * cols);
        let tail = |r: usize| -> f32 { (body..cols).map(|c| w[r * cols + c] * x[c]).sum() };
        let mut row = 0;
        while row + ROW_GROUP <= rows {
            let mut acc = [_mm256_setzero_ps(); ROW_GROUP];
            let mut c = 0;
            while c < body {
                // SAFETY: c + LANES ≤ body ≤ cols, and row + ROW_GROUP ≤
                // rows with w holding rows · cols values (asserted above).
                unsafe {
                    let xv = _mm256_loadu_ps(x.as_ptr().add(c));
                    for (g, acc) in acc.iter_mut().enumerate() {
                        let wv = _mm256_loadu_ps(w.as_ptr().add((row + g) * cols + c));
                        *acc = _mm256_fmadd_ps(wv, xv, *acc);
                    }
                }
                c += LANES;
            }
            for (g, acc) in acc.iter().enumerate() {
                y[row + g] = horizontal_sum(*acc) + tail(row + g);
            }
            row += ROW_GROUP;
        }
        for (r, y) in y.iter_mut().enumerate().skip(row) {
            let mut acc = _mm256_setzero_ps();
            let mut c = 0;
            while c < body {
                // SAFETY: as above, for the single row r < rows.
                unsafe {
                    let xv = _mm256_loadu_ps(x.as_ptr().add(c));
                    let wv = _mm256_loadu_ps(w.as_ptr().add(r * cols + c));
                    acc = _mm256_fmadd_ps(wv, xv, acc);
                }
                c += LANES;
            }
            *y = horizontal_sum(acc) + tail(r);
        }
    }
}

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
    fn gemv_equals_the_plain_product_on_ragged_shapes() {
        for (rows, cols) in [(1, 1), (3, 7), (37, 29), (130, 64), (257, 100)] {
            let w: Vec<f32> = (0..rows * cols)
                .map(|i| ((i * 37 % 101) as f32 - 50.0) / 50.0)
                .collect();
            let x: Vec<f32> = (0..cols).map(|i| ((i * 13 % 17) as f32) / 17.0).collect();
            let b: Vec<f32> = (0..rows).map(|i| i as f32 * 0.1).collect();
            let mut y = vec![0.0; rows];
            gemv(&w, &x, Some(&b), &mut y);
            for r in 0..rows {
                let want: f64 = (0..cols)
                    .map(|c| w[r * cols + c] as f64 * x[c] as f64)
                    .sum::<f64>()
                    + b[r] as f64;
                assert!(
                    (y[r] as f64 - want).abs() < 1e-5 * (1.0 + want.abs()),
                    "{rows}×{cols} row {r}: {} vs {want}",
                    y[r]
                );
            }
        }
    }

    #[test]
    fn vector_and_portable_loops_agree() {
        let (rows, cols) = (13, 45);
        let w: Vec<f32> = (0..rows * cols)
            .map(|i| ((i * 7 % 23) as f32 - 11.0) / 9.0)
            .collect();
        let x: Vec<f32> = (0..cols).map(|i| (i as f32).sin()).collect();
        let (mut fast, mut plain) = (vec![0.0; rows], vec![0.0; rows]);
        rows_times(&w, &x, &mut fast);
        rows_times_portable(&w, &x, &mut plain);
        for (f, p) in fast.iter().zip(&plain) {
            assert!((f - p).abs() < 1e-5 * (1.0 + p.abs()), "{f} vs {p}");
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
        {
            let mut narrow = vec![0.0; rows];
            // SAFETY: the features were detected just above.
            unsafe { avx2::rows_times(&w, &x, &mut narrow) };
            for (f, p) in narrow.iter().zip(&plain) {
                assert!((f - p).abs() < 1e-5 * (1.0 + p.abs()), "{f} vs {p}");
            }
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
