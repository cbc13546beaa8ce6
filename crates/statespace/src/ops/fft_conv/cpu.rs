//! The fused CPU kernel: per channel h (in parallel), the FFTs of every
//! batch row and kernel, their products, inverse FFTs and the skip term,
//! with no intermediate tensors. Two real rows a and b travel as one
//! complex signal a + i·b through one complex FFT: every spectrum they are
//! multiplied by (a kernel's, or its conjugate) is that of a real signal,
//! so the inverse returns a's result in the real part and b's in the
//! imaginary part — half the transforms of one real FFT per row, without
//! the real FFT's per-row pre- and post-processing (which cost more than
//! the transform itself at n = 512). The rows are transposed out of and
//! back into the (batch, length, channel) layout in parallel passes over
//! blocks of steps, so each channel reads and writes contiguous rows. In
//! f64 for f64 inputs, else in f32 ([`crate::ops::support::precision`]).

use std::mem::MaybeUninit;
use std::sync::Arc;

use burn::tensor::{TensorData, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;
use realfft::num_complex::Complex;
use rustfft::{Fft, FftDirection};

use super::FftConvOps;
use crate::ops::spectral::cpu::{Real, complex_plan};
use crate::ops::support::flex_values::packed;
use crate::ops::support::fresh::Fresh;
use crate::ops::support::precision::{Precision, narrow};
use crate::ops::support::wide::wide;

impl FftConvOps for Flex {
    fn fft_conv(u: FlexTensor, k: FlexTensor, d: FlexTensor, n: usize) -> FlexTensor {
        let dtype = u.dtype();
        let precision = Precision::of(&[dtype]);
        let [u, k, d] = [u, k, d].map(|t| precision.widen(t));
        let y = match precision {
            Precision::F32 => forward::<f32>(&u, &k, &d, n),
            Precision::F64 => forward::<f64>(&u, &k, &d, n),
        };
        narrow(y, dtype)
    }

    fn fft_conv_backward(
        u: FlexTensor,
        k: FlexTensor,
        d: FlexTensor,
        grad_y: FlexTensor,
        n: usize,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let dtype = u.dtype();
        let precision = Precision::of(&[dtype]);
        let [u, k, d, grad_y] = [u, k, d, grad_y].map(|t| precision.widen(t));
        let (du, dk, dd) = match precision {
            Precision::F32 => backward::<f32>(&u, &k, &d, &grad_y, n),
            Precision::F64 => backward::<f64>(&u, &k, &d, &grad_y, n),
        };
        (narrow(du, dtype), narrow(dk, dtype), narrow(dd, dtype))
    }
}

/// Zero.
fn zero<T: Real>() -> Complex<T> {
    Complex::new(T::zero(), T::zero())
}

/// The complex FFTs of length n both ways, shared by a kernel's tasks.
struct Plans<T: Real> {
    n: usize,
    forward: Arc<dyn Fft<T>>,
    inverse: Arc<dyn Fft<T>>,
}

impl<T: Real> Plans<T> {
    fn new(n: usize) -> Self {
        Self {
            n,
            forward: complex_plan::<T>(n, FftDirection::Forward),
            inverse: complex_plan::<T>(n, FftDirection::Inverse),
        }
    }

    /// Scratch for either direction.
    fn scratch(&self) -> Vec<Complex<T>> {
        let len = self
            .forward
            .get_inplace_scratch_len()
            .max(self.inverse.get_inplace_scratch_len());
        vec![zero(); len]
    }

    /// Rows `pairs[p] = (a, b)` of `len` real samples each (b may be
    /// absent) as the packed signals a + i·b, zero-padded to n, and their
    /// spectra in place: `out` holds one spectrum of n bins per pair.
    fn packed_spectra<'a>(
        &self,
        pairs: impl Iterator<Item = (&'a [T], Option<&'a [T]>)>,
        out: &mut [Complex<T>],
        scratch: &mut [Complex<T>],
    ) where
        T: 'a,
    {
        for ((a, b), z) in pairs.zip(out.chunks_exact_mut(self.n)) {
            let (head, tail) = z.split_at_mut(a.len());
            match b {
                Some(b) => {
                    for ((z, &re), &im) in head.iter_mut().zip(a).zip(b) {
                        *z = Complex::new(re, im);
                    }
                }
                None => {
                    for (z, &re) in head.iter_mut().zip(a) {
                        *z = Complex::new(re, T::zero());
                    }
                }
            }
            tail.iter_mut().for_each(|z| *z = zero());
        }
        self.forward.process_with_scratch(out, scratch);
    }
}

/// The rows of a pair from [`pairs`], each with where its result lies in
/// the pair's packed result: the first row's in the real part (`false`),
/// the second's in the imaginary part (`true`).
fn unpacked((a, b): (usize, Option<usize>)) -> impl Iterator<Item = (usize, bool)> {
    std::iter::once((a, false)).chain(b.map(|b| (b, true)))
}

/// The real or the imaginary part of `z` (see [`unpacked`]).
#[inline(always)]
fn part<T: Real>(z: &Complex<T>, imag: bool) -> T {
    if imag { z.im } else { z.re }
}

/// acc += g ⊙ conj(x), elementwise (a correlation in the frequency domain).
#[inline(always)]
fn add_conj_products<T: Real>(acc: &mut [Complex<T>], g: &[Complex<T>], x: &[Complex<T>]) {
    for ((a, &g), &x) in acc.iter_mut().zip(g).zip(x) {
        *a = *a + g * x.conj();
    }
}

/// The pairs of batch rows packed into one complex signal: (0, 1), (2, 3),
/// …, the last alone for an odd batch.
fn pairs(batch: usize) -> impl Iterator<Item = (usize, Option<usize>)> {
    (0..batch.div_ceil(2)).map(move |p| (2 * p, (2 * p + 1 < batch).then_some(2 * p + 1)))
}

/// Channel-last `src` (batch, len, width) as rows (batch, width, len), so
/// that each column's row is contiguous: sequences in parallel, each in
/// blocks of [`BLOCK_STEPS`] (the inverse of [`scatter_rows`]).
fn gather_rows<T: Real>(src: &[T], len: usize, width: usize) -> Vec<T> {
    let mut rows = Fresh::new(src.len());
    rows.slots()
        .par_chunks_mut((len * width).max(1))
        .zip(src.par_chunks((len * width).max(1)))
        .for_each(|(rows, seq)| {
            for t0 in (0..len).step_by(BLOCK_STEPS) {
                let t1 = (t0 + BLOCK_STEPS).min(len);
                for col in 0..width {
                    for t in t0..t1 {
                        rows[col * len + t].write(seq[t * width + col]);
                    }
                }
            }
        });
    // SAFETY: each sequence's (column, step) pairs cover its block of rows.
    unsafe { rows.written() }
}

/// Steps per block of [`gather_rows`] and [`scatter_rows`]: the block's
/// rows of every column stay in cache while they are read or written.
const BLOCK_STEPS: usize = 32;

/// Writes every slot of channel-last `dst` (batch, len, width) from
/// per-column rows: `dst[b, t, col] = row(b, col)[t]`, each row `len` long.
/// Sequences in parallel, each in blocks of steps.
fn scatter_rows<'a, T: Real + 'a>(
    dst: &mut [MaybeUninit<T>],
    len: usize,
    width: usize,
    row: impl Fn(usize, usize) -> &'a [T] + Sync,
) {
    dst.par_chunks_mut((len * width).max(1))
        .enumerate()
        .for_each(|(b, seq)| {
            for t0 in (0..len).step_by(BLOCK_STEPS) {
                let t1 = (t0 + BLOCK_STEPS).min(len);
                for col in 0..width {
                    let src = &row(b, col)[t0..t1];
                    for (j, &v) in src.iter().enumerate() {
                        seq[(t0 + j) * width + col].write(v);
                    }
                }
            }
        });
}

fn forward<T: Real>(u: &FlexTensor, k: &FlexTensor, d: &FlexTensor, n: usize) -> FlexTensor {
    let (us, ks) = (u.shape(), k.shape());
    let (batch, len, h) = (us[0], us[1], us[2]);
    let (c, k_len) = (ks[0], ks[2]);
    let plans = Plans::<T>::new(n);
    let [u, k, d] = [u, k, d].map(packed);
    let (k, d) = (k.storage::<T>(), d.storage::<T>());
    // u as rows (B, H, L): row (b, hi) is u_rows[(b·h + hi)·len..][..len].
    let u_rows = gather_rows(u.storage::<T>(), len, h);
    let u_row = |b: usize, hi: usize| &u_rows[(b * h + hi) * len..][..len];
    let scale = T::one() / T::from_usize(n).unwrap();
    // Per channel: (B·C·L) outputs, scattered after.
    let per_h: Vec<Vec<T>> = (0..h)
        .into_par_iter()
        .map(|hi| {
            wide!({
                let mut scratch = plans.scratch();
                let mut kf = vec![zero(); c * n];
                let kernels = (0..c).map(|ci| (&k[(ci * h + hi) * k_len..][..k_len], None));
                plans.packed_spectra(kernels, &mut kf, &mut scratch);
                let mut zu = vec![zero(); batch.div_ceil(2) * n];
                let rows = pairs(batch).map(|(a, b)| (u_row(a, hi), b.map(|b| u_row(b, hi))));
                plans.packed_spectra(rows, &mut zu, &mut scratch);
                // Each pair's spectrum times each kernel's, inverted: the
                // real part is the first row's convolution, the imaginary
                // part the second's (both kernels' signals are real).
                let mut w = vec![zero(); zu.len() * c];
                for (p, zu) in zu.chunks_exact(n).enumerate() {
                    for (ci, kf) in kf.chunks_exact(n).enumerate() {
                        let w = &mut w[(p * c + ci) * n..][..n];
                        for ((w, &z), &kf) in w.iter_mut().zip(zu).zip(kf) {
                            *w = z * kf;
                        }
                    }
                }
                plans.inverse.process_with_scratch(&mut w, &mut scratch);
                let mut out = Fresh::new(batch * c * len);
                let slots = out.slots();
                for (p, pair) in pairs(batch).enumerate() {
                    for ci in 0..c {
                        let w = &w[(p * c + ci) * n..][..len];
                        let skip = d[ci * h + hi];
                        for (row, imag) in unpacked(pair) {
                            let y = &mut slots[(row * c + ci) * len..][..len];
                            for ((y, w), &x) in y.iter_mut().zip(w).zip(u_row(row, hi)) {
                                y.write(part(w, imag) * scale + skip * x);
                            }
                        }
                    }
                }
                // SAFETY: every (row, kernel) of the pairs wrote its `len` steps.
                unsafe { out.written() }
            })
        })
        .collect();
    let width = c * h;
    let mut y = Fresh::new(batch * len * width);
    // y[b, t, ci·h + hi] = per_h[hi][(b·c + ci)·len + t].
    scatter_rows(y.slots(), len, width, |b, col| {
        let (ci, hi) = (col / h, col % h);
        &per_h[hi][(b * c + ci) * len..(b * c + ci + 1) * len]
    });
    // SAFETY: scatter_rows writes every slot.
    FlexTensor::from_data(TensorData::new(unsafe { y.written() }, [batch, len, width]))
}

fn backward<T: Real>(
    u: &FlexTensor,
    k: &FlexTensor,
    d: &FlexTensor,
    grad_y: &FlexTensor,
    n: usize,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let (us, ks) = (u.shape(), k.shape());
    let (batch, len, h) = (us[0], us[1], us[2]);
    let (c, k_len) = (ks[0], ks[2]);
    let width = c * h;
    let plans = Plans::<T>::new(n);
    let [u, k, d, grad_y] = [u, k, d, grad_y].map(packed);
    let (k, d) = (k.storage::<T>(), d.storage::<T>());
    // u (B, H, L) and ∂y (B, C·H, L) as rows, as in the forward.
    let u_rows = gather_rows(u.storage::<T>(), len, h);
    let g_rows = gather_rows(grad_y.storage::<T>(), len, width);
    let u_row = |b: usize, hi: usize| &u_rows[(b * h + hi) * len..][..len];
    let g_row = |b: usize, col: usize| &g_rows[(b * width + col) * len..][..len];
    let scale = T::one() / T::from_usize(n).unwrap();
    let n_pairs = batch.div_ceil(2);
    type PerChannel<T> = (Vec<T>, Vec<T>, Vec<T>);
    let per_h: Vec<PerChannel<T>> = (0..h)
        .into_par_iter()
        .map(|hi| {
            wide!({
                let mut scratch = plans.scratch();
                let mut kf = vec![zero(); c * n];
                let kernels = (0..c).map(|ci| (&k[(ci * h + hi) * k_len..][..k_len], None));
                plans.packed_spectra(kernels, &mut kf, &mut scratch);
                let mut zu = vec![zero(); n_pairs * n];
                let rows = pairs(batch).map(|(a, b)| (u_row(a, hi), b.map(|b| u_row(b, hi))));
                plans.packed_spectra(rows, &mut zu, &mut scratch);
                // zg[(p·c + ci)·n..]: pair p's packed ∂y of kernel ci.
                let mut zg = vec![zero(); n_pairs * c * n];
                let rows = pairs(batch).flat_map(|(a, b)| {
                    (0..c).map(move |ci| {
                        let col = ci * h + hi;
                        (g_row(a, col), b.map(|b| g_row(b, col)))
                    })
                });
                plans.packed_spectra(rows, &mut zg, &mut scratch);
                // ∂d sums B·L products that cancel: in f64, rounded once,
                // since an f32 running sum drifted by up to 10⁻⁵ of the
                // result at L = 5000 (the GPU parity compares with it).
                let mut dd_sums = vec![0f64; c];
                for b in 0..batch {
                    for (ci, sum) in dd_sums.iter_mut().enumerate() {
                        *sum += g_row(b, ci * h + hi)
                            .iter()
                            .zip(u_row(b, hi))
                            .map(|(g, x)| g.to_f64() * x.to_f64())
                            .sum::<f64>();
                    }
                }
                let dd: Vec<T> = dd_sums.into_iter().map(T::from_elem).collect();
                // ∂u per pair: Σ_c conj(K_c)·ZG_c, inverted (real part the
                // first row's, imaginary the second's).
                let mut acc = vec![zero(); n_pairs * n];
                for (p, acc) in acc.chunks_exact_mut(n).enumerate() {
                    for (ci, kf) in kf.chunks_exact(n).enumerate() {
                        add_conj_products(acc, &zg[(p * c + ci) * n..][..n], kf);
                    }
                }
                plans.inverse.process_with_scratch(&mut acc, &mut scratch);
                let mut du = vec![T::zero(); batch * len];
                for (p, pair) in pairs(batch).enumerate() {
                    let w = &acc[p * n..][..len];
                    for (row, imag) in unpacked(pair) {
                        let du_b = &mut du[row * len..][..len];
                        for (x, w) in du_b.iter_mut().zip(w) {
                            *x = part(w, imag) * scale;
                        }
                        for ci in 0..c {
                            let skip = d[ci * h + hi];
                            for (x, g) in du_b.iter_mut().zip(g_row(row, ci * h + hi)) {
                                *x = *x + skip * *g;
                            }
                        }
                    }
                }
                // ∂k_c = Re IFFT(Σ_p conj(ZU_p)·ZG_{p,c}): the real part keeps
                // Σ_b conj(U_b)·G_b, the cross terms of a pair land in the
                // imaginary part.
                let mut pk = vec![zero(); c * n];
                for (ci, pk) in pk.chunks_exact_mut(n).enumerate() {
                    for (p, zu) in zu.chunks_exact(n).enumerate() {
                        add_conj_products(pk, &zg[(p * c + ci) * n..][..n], zu);
                    }
                }
                plans.inverse.process_with_scratch(&mut pk, &mut scratch);
                let mut dk = vec![T::zero(); c * k_len];
                for (dk, pk) in dk.chunks_exact_mut(k_len).zip(pk.chunks_exact(n)) {
                    for (x, w) in dk.iter_mut().zip(pk) {
                        *x = w.re * scale;
                    }
                }
                (du, dk, dd)
            })
        })
        .collect();
    let mut grad_u = Fresh::new(batch * len * h);
    let mut grad_k = vec![T::zero(); c * h * k_len];
    let mut grad_d = vec![T::zero(); c * h];
    scatter_rows(grad_u.slots(), len, h, |b, hi| {
        &per_h[hi].0[b * len..(b + 1) * len]
    });
    // SAFETY: scatter_rows writes every slot.
    let grad_u = unsafe { grad_u.written() };
    for (hi, (_, dk, dd)) in per_h.iter().enumerate() {
        for ci in 0..c {
            let dst = (ci * h + hi) * k_len;
            grad_k[dst..dst + k_len].copy_from_slice(&dk[ci * k_len..(ci + 1) * k_len]);
            grad_d[ci * h + hi] = dd[ci];
        }
    }
    (
        FlexTensor::from_data(TensorData::new(grad_u, [batch, len, h])),
        FlexTensor::from_data(TensorData::new(grad_k, [c, h, k_len])),
        FlexTensor::from_data(TensorData::new(grad_d, [c, h])),
    )
}
