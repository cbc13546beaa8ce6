//! The fused CPU kernel: per channel h (in parallel), each node's
//! reciprocals 1/(s − z) formed once and used for every row r; in f64 for
//! f64 inputs, else in f32 ([`crate::ops::support::precision`]).

use burn::tensor::{TensorData, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use num_complex::{Complex, Complex64};
use rayon::prelude::*;

use super::{CauchyInputs, CauchyOps};
use crate::ops::support::flex_values::{HostReal, complex_values, values};
use crate::ops::support::precision::{Precision, narrow};

impl CauchyOps for Flex {
    fn cauchy(inputs: CauchyInputs<FlexTensor>, nodes: &[Complex64]) -> FlexTensor {
        let dtype = inputs.z_re.dtype();
        let precision = Precision::of(&[dtype]);
        let inputs = inputs.map(|t| precision.widen(t));
        let y = match precision {
            Precision::F32 => Host::<f32>::new(&inputs, nodes).forward(),
            Precision::F64 => Host::<f64>::new(&inputs, nodes).forward(),
        };
        narrow(y, dtype)
    }

    fn cauchy_backward(
        inputs: CauchyInputs<FlexTensor>,
        nodes: &[Complex64],
        grad: FlexTensor,
    ) -> CauchyInputs<FlexTensor> {
        let dtype = inputs.z_re.dtype();
        let precision = Precision::of(&[dtype]);
        let (inputs, grad) = (inputs.map(|t| precision.widen(t)), precision.widen(grad));
        let grads = match precision {
            Precision::F32 => Host::<f32>::new(&inputs, nodes).backward(&grad),
            Precision::F64 => Host::<f64>::new(&inputs, nodes).backward(&grad),
        };
        grads.map(|t| narrow(t, dtype))
    }
}

/// The inputs on the host: v (H, R, N), z (H, N), the nodes (S).
struct Host<T> {
    h: usize,
    r: usize,
    n: usize,
    v: Vec<Complex<T>>,
    z: Vec<Complex<T>>,
    nodes: Vec<Complex<T>>,
}

impl<T: HostReal> Host<T> {
    fn new(i: &CauchyInputs<FlexTensor>, nodes: &[Complex64]) -> Self {
        let [h, r, n] = i.v_re.shape().dims();
        let cast = |x: f64| T::from(x).expect("representable");
        Self {
            h,
            r,
            n,
            v: complex_values(&i.v_re, &i.v_im),
            z: complex_values(&i.z_re, &i.z_im),
            nodes: nodes
                .iter()
                .map(|s| Complex::new(cast(s.re), cast(s.im)))
                .collect(),
        }
    }

    /// 1/(s − z[h, m]) for every node s.
    fn reciprocals(&self, hi: usize, m: usize, out: &mut [Complex<T>]) {
        let z = self.z[hi * self.n + m];
        for (w, &s) in out.iter_mut().zip(&self.nodes) {
            *w = (s - z).inv();
        }
    }

    fn forward(&self) -> FlexTensor {
        let (r, n, count) = (self.r, self.n, self.nodes.len());
        let zero = Complex::new(T::zero(), T::zero());
        let per_h: Vec<Vec<Complex<T>>> = (0..self.h)
            .into_par_iter()
            .map(|hi| {
                let mut y = vec![zero; r * count];
                let mut w = vec![zero; count];
                for m in 0..n {
                    self.reciprocals(hi, m, &mut w);
                    for ri in 0..r {
                        let v = self.v[(hi * r + ri) * n + m];
                        for (y, &w) in y[ri * count..(ri + 1) * count].iter_mut().zip(&w) {
                            *y += v * w;
                        }
                    }
                }
                y
            })
            .collect();
        let y: Vec<Complex<T>> = per_h.into_iter().flatten().collect();
        let data: Vec<T> = y
            .iter()
            .map(|c| c.re)
            .chain(y.iter().map(|c| c.im))
            .collect();
        FlexTensor::from_data(TensorData::new(data, [2, self.h, r, count]))
    }

    fn backward(&self, grad: &FlexTensor) -> CauchyInputs<FlexTensor> {
        let (r, n, count) = (self.r, self.n, self.nodes.len());
        let g = values::<T>(grad);
        let half = self.h * r * count;
        let zero = Complex::new(T::zero(), T::zero());
        type ChannelGrads<T> = (Vec<Complex<T>>, Vec<Complex<T>>);
        let per_h: Vec<ChannelGrads<T>> = (0..self.h)
            .into_par_iter()
            .map(|hi| {
                let mut grad_v = vec![zero; r * n];
                let mut grad_z = vec![zero; n];
                let mut w = vec![zero; count];
                for m in 0..n {
                    self.reciprocals(hi, m, &mut w);
                    for ri in 0..r {
                        let row = (hi * r + ri) * count;
                        let (mut s1, mut s2) = (zero, zero);
                        for (k, &w) in w.iter().enumerate() {
                            let g = Complex::new(g[row + k], g[half + row + k]);
                            s1 += g * w.conj();
                            s2 += g * (w * w).conj();
                        }
                        grad_v[ri * n + m] = s1;
                        grad_z[m] += s2 * self.v[(hi * r + ri) * n + m].conj();
                    }
                }
                (grad_v, grad_z)
            })
            .collect();
        let (grad_v, grad_z): (Vec<_>, Vec<_>) = per_h.into_iter().unzip();
        let parts = |c: Vec<Complex<T>>, shape: Vec<usize>| {
            let re = c.iter().map(|c| c.re).collect::<Vec<T>>();
            let im = c.iter().map(|c| c.im).collect::<Vec<T>>();
            (
                FlexTensor::from_data(TensorData::new(re, shape.clone())),
                FlexTensor::from_data(TensorData::new(im, shape)),
            )
        };
        let (v_re, v_im) = parts(grad_v.concat(), vec![self.h, r, n]);
        let (z_re, z_im) = parts(grad_z.concat(), vec![self.h, n]);
        CauchyInputs {
            v_re,
            v_im,
            z_re,
            z_im,
        }
    }
}
