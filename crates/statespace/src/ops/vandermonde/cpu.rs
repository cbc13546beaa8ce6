//! The fused CPU kernel: per channel h (in parallel), the powers exp(l·w)
//! of each mode, accumulated into every output row; in f64 for f64 inputs,
//! else in f32 ([`crate::ops::support::precision`]).

use burn::tensor::{TensorData, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use super::{VandermondeInputs, VandermondeOps};
use crate::ops::support::flex_values::{HostReal, values};
use crate::ops::support::lane_sum::lane_sums;
use crate::ops::support::precision::{Precision, narrow};
use crate::ops::support::wide::wide;

impl VandermondeOps for Flex {
    fn vandermonde(inputs: VandermondeInputs<FlexTensor>, len: usize) -> FlexTensor {
        let dtype = inputs.w_re.dtype();
        let precision = Precision::of(&[dtype]);
        let inputs = inputs.map(|t| precision.widen(t));
        let k = match precision {
            Precision::F32 => forward::<f32>(&inputs, len),
            Precision::F64 => forward::<f64>(&inputs, len),
        };
        narrow(k, dtype)
    }

    fn vandermonde_backward(
        inputs: VandermondeInputs<FlexTensor>,
        grad: FlexTensor,
    ) -> VandermondeInputs<FlexTensor> {
        let dtype = inputs.w_re.dtype();
        let precision = Precision::of(&[dtype]);
        let (inputs, grad) = (inputs.map(|t| precision.widen(t)), precision.widen(grad));
        let grads = match precision {
            Precision::F32 => backward::<f32>(&inputs, &grad),
            Precision::F64 => backward::<f64>(&inputs, &grad),
        };
        grads.map(|t| narrow(t, dtype))
    }
}

struct Host<T> {
    c: usize,
    h: usize,
    n: usize,
    w_re: Vec<T>,
    w_im: Vec<T>,
    cr: Vec<T>,
    ci: Vec<T>,
}

impl<T: HostReal> Host<T> {
    fn new(i: &VandermondeInputs<FlexTensor>) -> Self {
        let cs = i.coef_re.shape();
        Self {
            c: cs[0],
            h: cs[1],
            n: cs[2],
            w_re: values(&i.w_re),
            w_im: values(&i.w_im),
            cr: values(&i.coef_re),
            ci: values(&i.coef_im),
        }
    }

    /// exp(l·w[h, m]) for l < len, as (re, im): exp((s + j)·w) is formed
    /// as exp(s·w)·exp(j·w) from exactly evaluated factors (s a multiple of
    /// [`POWER_BLOCK`], j below it), so each entry carries a few ulps of
    /// error, with a sixteenth of the transcendental evaluations.
    fn powers(&self, hi: usize, m: usize, len: usize, re: &mut [T], im: &mut [T]) {
        let (a, b) = (self.w_re[hi * self.n + m], self.w_im[hi * self.n + m]);
        let exact = |l: usize| {
            let lf = T::from(l).unwrap();
            let mag = (lf * a).exp();
            let (s, c) = (lf * b).sin_cos();
            (mag * c, mag * s)
        };
        let small: Vec<(T, T)> = (0..POWER_BLOCK.min(len)).map(exact).collect();
        for start in (0..len).step_by(POWER_BLOCK) {
            let (br, bi) = exact(start);
            let end = (start + POWER_BLOCK).min(len);
            for ((r, i), &(sr, si)) in re[start..end]
                .iter_mut()
                .zip(&mut im[start..end])
                .zip(&small)
            {
                *r = br * sr - bi * si;
                *i = br * si + bi * sr;
            }
        }
    }
}

/// Block length of the power tables (see `Host::powers`).
const POWER_BLOCK: usize = 16;

fn forward<T: HostReal>(inputs: &VandermondeInputs<FlexTensor>, len: usize) -> FlexTensor {
    let p = Host::<T>::new(inputs);
    let (c, h, n) = (p.c, p.h, p.n);
    let two = T::from(2.0).unwrap();
    let per_h: Vec<Vec<T>> = (0..h)
        .into_par_iter()
        .map(|hi| {
            let mut out = vec![T::zero(); c * len];
            let (mut re, mut im) = (vec![T::zero(); len], vec![T::zero(); len]);
            wide!({
                for m in 0..n {
                    p.powers(hi, m, len, &mut re, &mut im);
                    for ci in 0..c {
                        let at = (ci * h + hi) * n + m;
                        let (cr, cim) = (p.cr[at] * two, p.ci[at] * two);
                        for (o, (er, ei)) in out[ci * len..(ci + 1) * len]
                            .iter_mut()
                            .zip(re.iter().zip(&im))
                        {
                            *o = *o + cr * *er - cim * *ei;
                        }
                    }
                }
            });
            out
        })
        .collect();
    let mut k = vec![T::zero(); c * h * len];
    for (hi, out) in per_h.iter().enumerate() {
        for ci in 0..c {
            let dst = (ci * h + hi) * len;
            k[dst..dst + len].copy_from_slice(&out[ci * len..(ci + 1) * len]);
        }
    }
    FlexTensor::from_data(TensorData::new(k, [c, h, len]))
}

fn backward<T: HostReal>(
    inputs: &VandermondeInputs<FlexTensor>,
    grad: &FlexTensor,
) -> VandermondeInputs<FlexTensor> {
    let p = Host::<T>::new(inputs);
    let (c, h, n) = (p.c, p.h, p.n);
    let len = grad.shape()[2];
    let g: Vec<T> = values(grad);
    let two = T::from(2.0).unwrap();
    // Per channel h: (dw_re, dw_im) over N, (dc_re, dc_im) over C·N.
    type ChannelGrads<T> = (Vec<T>, Vec<T>, Vec<T>, Vec<T>);
    // Σ_l g·l·z = Σ_l (g·l)·z: the rows ∂K scaled by l, once per row.
    let scaled: Vec<T> = g
        .chunks_exact(len.max(1))
        .flat_map(|row| {
            row.iter()
                .enumerate()
                .map(|(l, &g)| g * T::from(l).unwrap())
        })
        .collect();
    let per_h: Vec<ChannelGrads<T>> = (0..h)
        .into_par_iter()
        .map(|hi| {
            let (mut dwr, mut dwi) = (vec![T::zero(); n], vec![T::zero(); n]);
            let (mut dcr, mut dci) = (vec![T::zero(); c * n], vec![T::zero(); c * n]);
            let (mut re, mut im) = (vec![T::zero(); len], vec![T::zero(); len]);
            wide!({
                for m in 0..n {
                    p.powers(hi, m, len, &mut re, &mut im);
                    let (re, im) = (&re[..len], &im[..len]);
                    for ci in 0..c {
                        let at = (ci * h + hi) * n + m;
                        let (cr, cim) = (p.cr[at], p.ci[at]);
                        let row = (ci * h + hi) * len..(ci * h + hi + 1) * len;
                        let (g, gl) = (&g[row.clone()], &scaled[row]);
                        // Σ g·z and Σ g·l·z for z = exp(l·w) = re + j·im.
                        let [sr, si, ar, ai] = lane_sums(len, |l| {
                            [g[l] * re[l], g[l] * im[l], gl[l] * re[l], gl[l] * im[l]]
                        });
                        dcr[ci * n + m] = two * sr;
                        dci[ci * n + m] = -two * si;
                        dwr[m] += two * (cr * ar - cim * ai);
                        dwi[m] -= two * (cr * ai + cim * ar);
                    }
                }
            });
            (dwr, dwi, dcr, dci)
        })
        .collect();
    let (mut gwr, mut gwi) = (vec![T::zero(); h * n], vec![T::zero(); h * n]);
    let (mut gcr, mut gci) = (vec![T::zero(); c * h * n], vec![T::zero(); c * h * n]);
    for (hi, (dwr, dwi, dcr, dci)) in per_h.into_iter().enumerate() {
        gwr[hi * n..(hi + 1) * n].copy_from_slice(&dwr);
        gwi[hi * n..(hi + 1) * n].copy_from_slice(&dwi);
        for ci in 0..c {
            let dst = (ci * h + hi) * n;
            gcr[dst..dst + n].copy_from_slice(&dcr[ci * n..(ci + 1) * n]);
            gci[dst..dst + n].copy_from_slice(&dci[ci * n..(ci + 1) * n]);
        }
    }
    let t = |v: Vec<T>, s: Vec<usize>| FlexTensor::from_data(TensorData::new(v, s));
    VandermondeInputs {
        w_re: t(gwr, vec![h, n]),
        w_im: t(gwi, vec![h, n]),
        coef_re: t(gcr, vec![c, h, n]),
        coef_im: t(gci, vec![c, h, n]),
    }
}
