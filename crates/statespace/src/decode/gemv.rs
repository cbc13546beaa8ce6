//! Matrix–vector products y = W x (+ b) of a one-token step on the CPU,
//! with W stored as f32, bf16 or f16: 16-bit values are widened to f32 in
//! registers and every product and sum is f32. A decode step streams each
//! weight once, so it runs at memory bandwidth and 16-bit storage halves
//! the bytes it reads.

use half::{bf16, f16};
use rayon::prelude::*;

/// Rows of W one inner loop reads at a time (x is loaded once for all).
const ROW_GROUP: usize = 4;
/// f32 lanes of the portable accumulators (one AVX register).
const LANES: usize = 8;
/// Matrices smaller than this (in values) run on the calling thread: waking
/// the pool would cost more than it saves.
const PARALLEL_MIN: usize = 1 << 16;

/// A weight value as stored: f32, or a 16-bit float widened on load.
pub(crate) trait Stored: Copy + Send + Sync + 'static {
    /// The value as f32 (exact: both 16-bit formats embed in f32).
    fn widen(self) -> f32;

    /// Eight values from `p` widened to f32.
    ///
    /// # Safety
    /// `p` must point to eight readable values and the CPU must have AVX2
    /// and F16C (the caller's `target_feature`s).
    #[cfg(target_arch = "x86_64")]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256;

    /// Sixteen values from `p` widened to f32.
    ///
    /// # Safety
    /// `p` must point to sixteen readable values and the CPU must have
    /// AVX-512F (the caller's `target_feature`).
    #[cfg(target_arch = "x86_64")]
    unsafe fn load16(p: *const Self) -> std::arch::x86_64::__m512;
}

impl Stored for f32 {
    fn widen(self) -> f32 {
        self
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256 {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm256_loadu_ps(p) }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const Self) -> std::arch::x86_64::__m512 {
        // SAFETY: the caller's contract.
        unsafe { std::arch::x86_64::_mm512_loadu_ps(p) }
    }
}

impl Stored for bf16 {
    fn widen(self) -> f32 {
        self.to_f32()
    }

    /// bf16 is the upper half of an f32: zero-extend, shift left 16.
    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        // SAFETY: the caller's contract; bf16 is a transparent u16.
        unsafe {
            let half = _mm_loadu_si128(p.cast());
            _mm256_castsi256_ps(_mm256_slli_epi32::<16>(_mm256_cvtepu16_epi32(half)))
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const Self) -> std::arch::x86_64::__m512 {
        use std::arch::x86_64::*;
        // SAFETY: the caller's contract; bf16 is a transparent u16.
        unsafe {
            let half = _mm256_loadu_si256(p.cast());
            _mm512_castsi512_ps(_mm512_slli_epi32::<16>(_mm512_cvtepu16_epi32(half)))
        }
    }
}

impl Stored for f16 {
    fn widen(self) -> f32 {
        self.to_f32()
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load8(p: *const Self) -> std::arch::x86_64::__m256 {
        use std::arch::x86_64::*;
        // SAFETY: the caller's contract (F16C); f16 is a transparent u16.
        unsafe { _mm256_cvtph_ps(_mm_loadu_si128(p.cast())) }
    }

    #[cfg(target_arch = "x86_64")]
    #[inline(always)]
    unsafe fn load16(p: *const Self) -> std::arch::x86_64::__m512 {
        use std::arch::x86_64::*;
        // SAFETY: the caller's contract; f16 is a transparent u16.
        unsafe { _mm512_cvtph_ps(_mm256_loadu_si256(p.cast())) }
    }
}

/// y = W x (+ b), W (rows, cols) row-major, x (cols), y (rows).
///
/// Rows are split into blocks spread over the rayon pool; each block streams
/// its rows of W once, so the product runs at memory bandwidth.
pub(crate) fn gemv<W: Stored>(w: &[W], x: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
    let cols = x.len();
    let rows = y.len();
    assert_eq!(w.len(), rows * cols, "W holds rows · cols values");
    let threads = rayon::current_num_threads().max(1);
    if w.len() < PARALLEL_MIN || threads == 1 {
        rows_times(w, x, y);
    } else {
        // About four blocks per thread, a whole number of row groups each.
        let block = rows
            .div_ceil(4 * threads)
            .next_multiple_of(ROW_GROUP)
            .max(4 * ROW_GROUP);
        y.par_chunks_mut(block)
            .zip(w.par_chunks(block * cols))
            .for_each(|(y, w)| rows_times(w, x, y));
    }
    add_bias(y, bias);
}

/// y += b, when there is a b.
pub(crate) fn add_bias(y: &mut [f32], bias: Option<&[f32]>) {
    if let Some(b) = bias {
        y.iter_mut().zip(b).for_each(|(y, b)| *y += b);
    }
}

/// y = W x for one block of rows, on the widest instructions available.
fn rows_times<W: Stored>(w: &[W], x: &[f32], y: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has the feature, checked just above.
            unsafe { avx512::rows_times(w, x, y) };
            return;
        }
        if std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
            && std::arch::is_x86_feature_detected!("f16c")
        {
            // SAFETY: the CPU has the three features, checked just above.
            unsafe { avx2::rows_times(w, x, y) };
            return;
        }
    }
    rows_times_portable(w, x, y);
}

/// The portable loop: LANES independent partial sums per row.
fn rows_times_portable<W: Stored>(w: &[W], x: &[f32], y: &mut [f32]) {
    let cols = x.len();
    let body = cols - cols % LANES;
    for (r, y) in y.iter_mut().enumerate() {
        let w_row = &w[r * cols..(r + 1) * cols];
        let mut acc = [0.0f32; LANES];
        for start in (0..body).step_by(LANES) {
            for lane in 0..LANES {
                acc[lane] += w_row[start + lane].widen() * x[start + lane];
            }
        }
        let tail: f32 = (body..cols).map(|c| w_row[c].widen() * x[c]).sum();
        *y = acc.iter().sum::<f32>() + tail;
    }
}

/// The columns past the last whole vector of one row, summed.
fn tail<W: Stored>(w: &[W], x: &[f32], row: usize, body: usize) -> f32 {
    let cols = x.len();
    (body..cols).map(|c| w[row * cols + c].widen() * x[c]).sum()
}

#[cfg(target_arch = "x86_64")]
mod avx512 {
    use super::{ROW_GROUP, Stored, tail};
    use std::arch::x86_64::*;

    /// f32 lanes of an AVX-512 register.
    const WIDE: usize = 16;

    /// y = W x with ROW_GROUP rows per pass, sixteen columns per instruction.
    #[target_feature(enable = "avx512f")]
    pub(super) fn rows_times<W: Stored>(w: &[W], x: &[f32], y: &mut [f32]) {
        let cols = x.len();
        let body = cols - cols % WIDE;
        let rows = y.len();
        assert!(w.len() >= rows * cols);
        // Two vectors of columns per pass: more loads in flight.
        let pairs = cols - cols % (2 * WIDE);
        let mut row = 0;
        while row + ROW_GROUP <= rows {
            let mut acc = [_mm512_setzero_ps(); ROW_GROUP];
            let mut odd = [_mm512_setzero_ps(); ROW_GROUP];
            let mut c = 0;
            while c < pairs {
                // SAFETY: c + 2 · WIDE ≤ pairs ≤ cols, and row + ROW_GROUP
                // ≤ rows with w holding rows · cols values (asserted
                // above); the CPU has AVX-512F (this function's feature).
                unsafe {
                    let xv = _mm512_loadu_ps(x.as_ptr().add(c));
                    let xw = _mm512_loadu_ps(x.as_ptr().add(c + WIDE));
                    for g in 0..ROW_GROUP {
                        let p = w.as_ptr().add((row + g) * cols + c);
                        // The same columns of the next row group.
                        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(ROW_GROUP * cols).cast());
                        acc[g] = _mm512_fmadd_ps(W::load16(p), xv, acc[g]);
                        odd[g] = _mm512_fmadd_ps(W::load16(p.add(WIDE)), xw, odd[g]);
                    }
                }
                c += 2 * WIDE;
            }
            for g in 0..ROW_GROUP {
                acc[g] = _mm512_add_ps(acc[g], odd[g]);
            }
            while c < body {
                // SAFETY: c + WIDE ≤ body ≤ cols, and row + ROW_GROUP ≤
                // rows with w holding rows · cols values (asserted above);
                // the CPU has AVX-512F (this function's feature).
                unsafe {
                    let xv = _mm512_loadu_ps(x.as_ptr().add(c));
                    for (g, acc) in acc.iter_mut().enumerate() {
                        let wv = W::load16(w.as_ptr().add((row + g) * cols + c));
                        *acc = _mm512_fmadd_ps(wv, xv, *acc);
                    }
                }
                c += WIDE;
            }
            for (g, acc) in acc.iter().enumerate() {
                y[row + g] = _mm512_reduce_add_ps(*acc) + tail(w, x, row + g, body);
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
                    let wv = W::load16(w.as_ptr().add(r * cols + c));
                    acc = _mm512_fmadd_ps(wv, xv, acc);
                }
                c += WIDE;
            }
            *y = _mm512_reduce_add_ps(acc) + tail(w, x, r, body);
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use super::{LANES, ROW_GROUP, Stored, tail};
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
    #[target_feature(enable = "avx2,fma,f16c")]
    pub(super) fn rows_times<W: Stored>(w: &[W], x: &[f32], y: &mut [f32]) {
        let cols = x.len();
        let body = cols - cols % LANES;
        let rows = y.len();
        assert!(w.len() >= rows * cols);
        // Two vectors of columns per pass: more loads in flight.
        let pairs = cols - cols % (2 * LANES);
        let mut row = 0;
        while row + ROW_GROUP <= rows {
            let mut acc = [_mm256_setzero_ps(); ROW_GROUP];
            let mut odd = [_mm256_setzero_ps(); ROW_GROUP];
            let mut c = 0;
            while c < pairs {
                // SAFETY: c + 2 · LANES ≤ pairs ≤ cols, and row + ROW_GROUP
                // ≤ rows with w holding rows · cols values (asserted
                // above); the CPU has AVX2 and F16C (this function's
                // features).
                unsafe {
                    let xv = _mm256_loadu_ps(x.as_ptr().add(c));
                    let xw = _mm256_loadu_ps(x.as_ptr().add(c + LANES));
                    for g in 0..ROW_GROUP {
                        let p = w.as_ptr().add((row + g) * cols + c);
                        // The same columns of the next row group.
                        _mm_prefetch::<_MM_HINT_T0>(p.wrapping_add(ROW_GROUP * cols).cast());
                        acc[g] = _mm256_fmadd_ps(W::load8(p), xv, acc[g]);
                        odd[g] = _mm256_fmadd_ps(W::load8(p.add(LANES)), xw, odd[g]);
                    }
                }
                c += 2 * LANES;
            }
            while c < body {
                // SAFETY: c + LANES ≤ body ≤ cols, as above.
                unsafe {
                    let xv = _mm256_loadu_ps(x.as_ptr().add(c));
                    for (g, acc) in acc.iter_mut().enumerate() {
                        let wv = W::load8(w.as_ptr().add((row + g) * cols + c));
                        *acc = _mm256_fmadd_ps(wv, xv, *acc);
                    }
                }
                c += LANES;
            }
            for g in 0..ROW_GROUP {
                y[row + g] =
                    horizontal_sum(_mm256_add_ps(acc[g], odd[g])) + tail(w, x, row + g, body);
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
                    let wv = W::load8(w.as_ptr().add(r * cols + c));
                    acc = _mm256_fmadd_ps(wv, xv, acc);
                }
                c += LANES;
            }
            *y = horizontal_sum(acc) + tail(w, x, r, body);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u32) -> Vec<f32> {
        (0..n)
            .map(|i| (((i as u32).wrapping_mul(2_654_435_761) ^ seed) % 2001) as f32 / 1000.0 - 1.0)
            .collect()
    }

    /// The f64 product of the widened weights.
    fn reference<W: Stored>(w: &[W], x: &[f32], bias: Option<&[f32]>) -> Vec<f32> {
        let cols = x.len();
        (0..w.len() / cols)
            .map(|r| {
                let dot: f64 = (0..cols)
                    .map(|c| f64::from(w[r * cols + c].widen()) * f64::from(x[c]))
                    .sum();
                (dot + bias.map_or(0.0, |b| f64::from(b[r]))) as f32
            })
            .collect()
    }

    fn close(a: &[f32], b: &[f32], cols: usize) {
        for (i, (a, b)) in a.iter().zip(b).enumerate() {
            assert!((a - b).abs() <= 1e-5 * cols as f32, "row {i}: {a} vs {b}");
        }
    }

    /// Every storage, on shapes with ragged row groups and column tails,
    /// small (one thread) and large (the pool).
    #[test]
    fn gemv_equals_the_plain_product_for_every_storage() {
        for (rows, cols) in [(1, 1), (5, 7), (9, 37), (130, 515), (1027, 129)] {
            let w = values(rows * cols, 7);
            let x = values(cols, 11);
            let b = values(rows, 13);
            let wb: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
            let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
            let mut y = vec![0.0; rows];
            gemv(&w, &x, Some(&b), &mut y);
            close(&y, &reference(&w, &x, Some(&b)), cols);
            gemv(&wb, &x, Some(&b), &mut y);
            close(&y, &reference(&wb, &x, Some(&b)), cols);
            gemv(&wh, &x, None, &mut y);
            close(&y, &reference(&wh, &x, None), cols);
        }
    }

    /// The vector loops widen 16-bit values exactly as the scalar one.
    #[test]
    fn vector_and_portable_loops_agree() {
        let (rows, cols) = (23, 301);
        let w = values(rows * cols, 3);
        let x = values(cols, 5);
        let wb: Vec<bf16> = w.iter().map(|&v| bf16::from_f32(v)).collect();
        let wh: Vec<f16> = w.iter().map(|&v| f16::from_f32(v)).collect();
        fn both<W: Stored>(w: &[W], x: &[f32], rows: usize) {
            let (mut fast, mut plain) = (vec![0.0; rows], vec![0.0; rows]);
            rows_times(w, x, &mut fast);
            rows_times_portable(w, x, &mut plain);
            close(&fast, &plain, x.len());
            // The AVX2 loop too where AVX-512 took the first call.
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2")
                && std::arch::is_x86_feature_detected!("fma")
                && std::arch::is_x86_feature_detected!("f16c")
            {
                // SAFETY: the features were detected just above.
                unsafe { avx2::rows_times(w, x, &mut fast) };
                close(&fast, &plain, x.len());
            }
        }
        both(&w, &x, rows);
        both(&wb, &x, rows);
        both(&wh, &x, rows);
    }
}
