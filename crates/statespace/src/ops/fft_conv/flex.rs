//! The fused CPU kernel: per channel h (in parallel), the FFTs of every
//! batch row and kernel, their products and inverse FFTs, with no
//! intermediate tensors.

use burn::tensor::{DType, TensorData, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;
use realfft::num_complex::Complex;

use super::{FftConvOps, fft_len};
use crate::ops::spectral::flex::{Real, forward_plan, inverse_plan};

impl FftConvOps for Flex {
    fn fft_conv(u: FlexTensor, k: FlexTensor) -> FlexTensor {
        match u.dtype() {
            DType::F32 => forward::<f32>(&u, &k),
            DType::F64 => forward::<f64>(&u, &k),
            other => panic!("fft_conv: unsupported dtype {other:?} (f32, f64)"),
        }
    }

    fn fft_conv_backward(
        u: FlexTensor,
        k: FlexTensor,
        grad_y: FlexTensor,
    ) -> (FlexTensor, FlexTensor) {
        match u.dtype() {
            DType::F32 => backward::<f32>(&u, &k, &grad_y),
            DType::F64 => backward::<f64>(&u, &k, &grad_y),
            other => panic!("fft_conv: unsupported dtype {other:?} (f32, f64)"),
        }
    }
}

fn values<T: Real>(t: &FlexTensor) -> Vec<T> {
    t.to_contiguous().storage::<T>().to_vec()
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

fn forward<T: Real>(u: &FlexTensor, k: &FlexTensor) -> FlexTensor {
    let (us, ks) = (u.shape(), k.shape());
    let (batch, h, len) = (us[0], us[1], us[2]);
    let (c, k_len) = (ks[0], ks[2]);
    let n = fft_len(len, k_len);
    let bins = n / 2 + 1;
    let (u, k) = (values::<T>(u), values::<T>(k));
    // Per channel: (B·C·L) outputs, assembled after.
    let per_h: Vec<Vec<T>> = (0..h)
        .into_par_iter()
        .map(|hi| {
            let mut spectra = Spectra::<T>::new(n);
            let mut uf = vec![Complex::new(T::zero(), T::zero()); batch * bins];
            let mut kf = vec![Complex::new(T::zero(), T::zero()); c * bins];
            for b in 0..batch {
                let at = (b * h + hi) * len;
                spectra.transform(&u[at..at + len], &mut uf[b * bins..(b + 1) * bins]);
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
                    inverse(
                        n,
                        &mut prod,
                        &mut out[o..o + len],
                        len,
                        &mut buf,
                        &mut scratch,
                    );
                }
            }
            out
        })
        .collect();
    let mut y = vec![T::zero(); batch * c * h * len];
    for (hi, out) in per_h.iter().enumerate() {
        for b in 0..batch {
            for ci in 0..c {
                let src = (b * c + ci) * len;
                let dst = ((b * c + ci) * h + hi) * len;
                y[dst..dst + len].copy_from_slice(&out[src..src + len]);
            }
        }
    }
    FlexTensor::from_data(TensorData::new(y, [batch, c, h, len]))
}

fn backward<T: Real>(
    u: &FlexTensor,
    k: &FlexTensor,
    grad_y: &FlexTensor,
) -> (FlexTensor, FlexTensor) {
    let (us, ks) = (u.shape(), k.shape());
    let (batch, h, len) = (us[0], us[1], us[2]);
    let (c, k_len) = (ks[0], ks[2]);
    let n = fft_len(len, k_len);
    let bins = n / 2 + 1;
    let (u, k, gy) = (values::<T>(u), values::<T>(k), values::<T>(grad_y));
    let zero = Complex::new(T::zero(), T::zero());
    let per_h: Vec<(Vec<T>, Vec<T>)> = (0..h)
        .into_par_iter()
        .map(|hi| {
            let mut spectra = Spectra::<T>::new(n);
            let mut uf = vec![zero; batch * bins];
            let mut kf = vec![zero; c * bins];
            let mut gf = vec![zero; batch * c * bins];
            for b in 0..batch {
                let at = (b * h + hi) * len;
                spectra.transform(&u[at..at + len], &mut uf[b * bins..(b + 1) * bins]);
            }
            for ci in 0..c {
                let at = (ci * h + hi) * k_len;
                spectra.transform(&k[at..at + k_len], &mut kf[ci * bins..(ci + 1) * bins]);
            }
            for b in 0..batch {
                for ci in 0..c {
                    let at = ((b * c + ci) * h + hi) * len;
                    let g = (b * c + ci) * bins;
                    spectra.transform(&gy[at..at + len], &mut gf[g..g + bins]);
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
                inverse(
                    n,
                    &mut acc,
                    &mut du[b * len..(b + 1) * len],
                    len,
                    &mut buf,
                    &mut scratch,
                );
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
            (du, dk)
        })
        .collect();
    let mut grad_u = vec![T::zero(); batch * h * len];
    let mut grad_k = vec![T::zero(); c * h * k_len];
    for (hi, (du, dk)) in per_h.iter().enumerate() {
        for b in 0..batch {
            let dst = (b * h + hi) * len;
            grad_u[dst..dst + len].copy_from_slice(&du[b * len..(b + 1) * len]);
        }
        for ci in 0..c {
            let dst = (ci * h + hi) * k_len;
            grad_k[dst..dst + k_len].copy_from_slice(&dk[ci * k_len..(ci + 1) * k_len]);
        }
    }
    (
        FlexTensor::from_data(TensorData::new(grad_u, [batch, h, len])),
        FlexTensor::from_data(TensorData::new(grad_k, [c, h, k_len])),
    )
}
