//! The fused CPU kernel: per channel h (in parallel), the FFTs of every
//! batch row and kernel, their products, inverse FFTs and the skip term,
//! with no intermediate tensors. The rows are transposed out of and back
//! into the (batch, length, channel) layout in parallel passes over blocks
//! of steps, so each channel reads and writes contiguous rows. In f64 for
//! f64 inputs, else in f32 ([`crate::ops::support::precision`]).

use burn::tensor::{TensorData, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;
use realfft::num_complex::Complex;

use super::{FftConvOps, fft_len};
use crate::ops::spectral::cpu::{Real, forward_plan, inverse_plan};
use crate::ops::support::flex_values::packed;
use crate::ops::support::precision::{Precision, narrow};

impl FftConvOps for Flex {
    fn fft_conv(u: FlexTensor, k: FlexTensor, d: FlexTensor) -> FlexTensor {
        let dtype = u.dtype();
        let precision = Precision::of(&[dtype]);
        let [u, k, d] = [u, k, d].map(|t| precision.widen(t));
        let y = match precision {
            Precision::F32 => forward::<f32>(&u, &k, &d),
            Precision::F64 => forward::<f64>(&u, &k, &d),
        };
        narrow(y, dtype)
    }

    fn fft_conv_backward(
        u: FlexTensor,
        k: FlexTensor,
        d: FlexTensor,
        grad_y: FlexTensor,
    ) -> (FlexTensor, FlexTensor, FlexTensor) {
        let dtype = u.dtype();
        let precision = Precision::of(&[dtype]);
        let [u, k, d, grad_y] = [u, k, d, grad_y].map(|t| precision.widen(t));
        let (du, dk, dd) = match precision {
            Precision::F32 => backward::<f32>(&u, &k, &d, &grad_y),
            Precision::F64 => backward::<f64>(&u, &k, &d, &grad_y),
        };
        (narrow(du, dtype), narrow(dk, dtype), narrow(dd, dtype))
    }
}

/// Spectra of `rows` (each of `len` samples, stride `stride` apart
/// starting at `offset`) zero-padded to n.
struct Spectra<T: Real> {
    n: usize,
    scratch_in: Vec<T>,
    scratch: Vec<Complex<T>>,
}

impl<T: Real> Spectra<T> {
    fn new(n: usize) -> Self {
        let plan = forward_plan::<T>(n);
        Self {
            n,
            scratch_in: plan.make_input_vec(),
            scratch: plan.make_scratch_vec(),
        }
    }

    fn transform(&mut self, src: &[T], out: &mut [Complex<T>]) {
        let plan = forward_plan::<T>(self.n);
        self.scratch_in[..src.len()].copy_from_slice(src);
        self.scratch_in[src.len()..]
            .iter_mut()
            .for_each(|x| *x = T::zero());
        plan.process_with_scratch(&mut self.scratch_in, out, &mut self.scratch)
            .expect("buffer sizes come from the plan");
    }
}

/// Inverse transform of `spec` (modified in place), scaled by 1/n, first `take` samples into `out`.
fn inverse<T: Real>(
    n: usize,
    spec: &mut [Complex<T>],
    out: &mut [T],
    take: usize,
    buf: &mut Vec<T>,
    scratch: &mut Vec<Complex<T>>,
) {
    let plan = inverse_plan::<T>(n);
    if buf.len() != n {
        *buf = plan.make_output_vec();
        *scratch = plan.make_scratch_vec();
    }
    spec[0].im = T::zero();
    if n.is_multiple_of(2) {
        spec[n / 2].im = T::zero();
    }
    plan.process_with_scratch(spec, buf, scratch)
        .expect("buffer sizes come from the plan");
    let scale = T::one() / T::from_usize(n).unwrap();
    for (o, x) in out.iter_mut().zip(&buf[..take]) {
        *o = *x * scale;
    }
}

/// Channel-last `src` (batch, len, width) as rows (batch, width, len), so
/// that each column's row is contiguous: sequences in parallel, each in
/// blocks of [`BLOCK_STEPS`] (the inverse of [`scatter_rows`]).
fn gather_rows<T: Real>(src: &[T], len: usize, width: usize) -> Vec<T> {
    let mut rows = vec![T::zero(); src.len()];
    rows.par_chunks_mut((len * width).max(1))
        .zip(src.par_chunks((len * width).max(1)))
        .for_each(|(rows, seq)| {
            for t0 in (0..len).step_by(BLOCK_STEPS) {
                let t1 = (t0 + BLOCK_STEPS).min(len);
                for col in 0..width {
                    for t in t0..t1 {
                        rows[col * len + t] = seq[t * width + col];
                    }
                }
            }
        });
    rows
}

/// Steps per block of [`gather_rows`] and [`scatter_rows`]: the block's
/// rows of every column stay in cache while they are read or written.
const BLOCK_STEPS: usize = 32;

/// Writes channel-last `dst` (batch, len, width) from per-column rows:
/// `dst[b, t, col] = row(b, col)[t]`, each row `len` long. Sequences in
/// parallel, each in blocks of steps.
fn scatter_rows<'a, T: Real + 'a>(
    dst: &mut [T],
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
                        seq[(t0 + j) * width + col] = v;
                    }
                }
            }
        });
}

fn forward<T: Real>(u: &FlexTensor, k: &FlexTensor, d: &FlexTensor) -> FlexTensor {
    let (us, ks) = (u.shape(), k.shape());
    let (batch, len, h) = (us[0], us[1], us[2]);
    let (c, k_len) = (ks[0], ks[2]);
    let n = fft_len(len, k_len);
    let bins = n / 2 + 1;
    let [u, k, d] = [u, k, d].map(packed);
    let (k, d) = (k.storage::<T>(), d.storage::<T>());
    // u as rows (B, H, L): row (b, hi) is u_rows[(b·h + hi)·len..][..len].
    let u_rows = gather_rows(u.storage::<T>(), len, h);
    let u_row = |b: usize, hi: usize| &u_rows[(b * h + hi) * len..][..len];
    // Per channel: (B·C·L) outputs, scattered after.
    let per_h: Vec<Vec<T>> = (0..h)
        .into_par_iter()
        .map(|hi| {
            let mut spectra = Spectra::<T>::new(n);
            let mut uf = vec![Complex::new(T::zero(), T::zero()); batch * bins];
            let mut kf = vec![Complex::new(T::zero(), T::zero()); c * bins];
            for b in 0..batch {
                spectra.transform(u_row(b, hi), &mut uf[b * bins..(b + 1) * bins]);
            }
            for ci in 0..c {
                let at = (ci * h + hi) * k_len;
                spectra.transform(&k[at..at + k_len], &mut kf[ci * bins..(ci + 1) * bins]);
            }
            let mut out = vec![T::zero(); batch * c * len];
            let (mut prod, mut buf, mut scratch) = (
                vec![Complex::new(T::zero(), T::zero()); bins],
                Vec::new(),
                Vec::new(),
            );
            for b in 0..batch {
                for ci in 0..c {
                    for f in 0..bins {
                        prod[f] = uf[b * bins + f] * kf[ci * bins + f];
                    }
                    let o = (b * c + ci) * len;
                    let y = &mut out[o..o + len];
                    inverse(n, &mut prod, y, len, &mut buf, &mut scratch);
                    let skip = d[ci * h + hi];
                    for (y, x) in y.iter_mut().zip(u_row(b, hi)) {
                        *y = *y + skip * *x;
                    }
                }
            }
            out
        })
        .collect();
    let width = c * h;
    let mut y = vec![T::zero(); batch * len * width];
    // y[b, t, ci·h + hi] = per_h[hi][(b·c + ci)·len + t].
    scatter_rows(&mut y, len, width, |b, col| {
        let (ci, hi) = (col / h, col % h);
        &per_h[hi][(b * c + ci) * len..(b * c + ci + 1) * len]
    });
    FlexTensor::from_data(TensorData::new(y, [batch, len, width]))
}

fn backward<T: Real>(
    u: &FlexTensor,
    k: &FlexTensor,
    d: &FlexTensor,
    grad_y: &FlexTensor,
) -> (FlexTensor, FlexTensor, FlexTensor) {
    let (us, ks) = (u.shape(), k.shape());
    let (batch, len, h) = (us[0], us[1], us[2]);
    let (c, k_len) = (ks[0], ks[2]);
    let width = c * h;
    let n = fft_len(len, k_len);
    let bins = n / 2 + 1;
    let [u, k, d, grad_y] = [u, k, d, grad_y].map(packed);
    let (k, d) = (k.storage::<T>(), d.storage::<T>());
    // u (B, H, L) and ∂y (B, C·H, L) as rows, as in the forward.
    let u_rows = gather_rows(u.storage::<T>(), len, h);
    let g_rows = gather_rows(grad_y.storage::<T>(), len, width);
    let u_row = |b: usize, hi: usize| &u_rows[(b * h + hi) * len..][..len];
    let g_row = |b: usize, col: usize| &g_rows[(b * width + col) * len..][..len];
    let zero = Complex::new(T::zero(), T::zero());
    type PerChannel<T> = (Vec<T>, Vec<T>, Vec<T>);
    let per_h: Vec<PerChannel<T>> = (0..h)
        .into_par_iter()
        .map(|hi| {
            let mut spectra = Spectra::<T>::new(n);
            let mut uf = vec![zero; batch * bins];
            let mut kf = vec![zero; c * bins];
            let mut gf = vec![zero; batch * c * bins];
            for b in 0..batch {
                spectra.transform(u_row(b, hi), &mut uf[b * bins..(b + 1) * bins]);
            }
            for ci in 0..c {
                let at = (ci * h + hi) * k_len;
                spectra.transform(&k[at..at + k_len], &mut kf[ci * bins..(ci + 1) * bins]);
            }
            let mut dd = vec![T::zero(); c];
            for b in 0..batch {
                for (ci, dd) in dd.iter_mut().enumerate() {
                    let row = g_row(b, ci * h + hi);
                    let g = (b * c + ci) * bins;
                    spectra.transform(row, &mut gf[g..g + bins]);
                    *dd = row
                        .iter()
                        .zip(u_row(b, hi))
                        .fold(*dd, |acc, (g, x)| acc + *g * *x);
                }
            }
            let (mut acc, mut buf, mut scratch) = (vec![zero; bins], Vec::new(), Vec::new());
            let mut du = vec![T::zero(); batch * len];
            for b in 0..batch {
                acc.iter_mut().for_each(|x| *x = zero);
                for ci in 0..c {
                    for f in 0..bins {
                        acc[f] = acc[f] + gf[(b * c + ci) * bins + f] * kf[ci * bins + f].conj();
                    }
                }
                let du_b = &mut du[b * len..(b + 1) * len];
                inverse(n, &mut acc, du_b, len, &mut buf, &mut scratch);
                for ci in 0..c {
                    let skip = d[ci * h + hi];
                    for (x, g) in du_b.iter_mut().zip(g_row(b, ci * h + hi)) {
                        *x = *x + skip * *g;
                    }
                }
            }
            let mut dk = vec![T::zero(); c * k_len];
            for ci in 0..c {
                acc.iter_mut().for_each(|x| *x = zero);
                for b in 0..batch {
                    for f in 0..bins {
                        acc[f] = acc[f] + gf[(b * c + ci) * bins + f] * uf[b * bins + f].conj();
                    }
                }
                inverse(
                    n,
                    &mut acc,
                    &mut dk[ci * k_len..(ci + 1) * k_len],
                    k_len,
                    &mut buf,
                    &mut scratch,
                );
            }
            (du, dk, dd)
        })
        .collect();
    let mut grad_u = vec![T::zero(); batch * len * h];
    let mut grad_k = vec![T::zero(); c * h * k_len];
    let mut grad_d = vec![T::zero(); c * h];
    scatter_rows(&mut grad_u, len, h, |b, hi| {
        &per_h[hi].0[b * len..(b + 1) * len]
    });
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
