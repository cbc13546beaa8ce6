//! The diagonal kernel on the CPU: the discretisation per mode on the
//! host ([`super::discretize`]), then the fused Vandermonde product; in f64 for
//! f64 inputs, else in f32 ([`crate::ops::support::precision`]).

use burn::tensor::{TensorData, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use num_complex::Complex;

use super::discretize::{discretize, discretize_backward};
use super::{DiagonalKernelOps, DiagonalSystem};
use crate::discretize::Discretization;
use crate::ops::support::flex_values::{HostReal, complex_values, values};
use crate::ops::support::precision::{Precision, narrow};
use crate::ops::vandermonde::{VandermondeInputs, VandermondeOps};

impl DiagonalKernelOps for Flex {
    fn diagonal_kernel(
        system: DiagonalSystem<FlexTensor>,
        rule: Discretization,
        len: usize,
    ) -> FlexTensor {
        let dtype = system.dt.dtype();
        let precision = Precision::of(&[dtype]);
        let system = system.map(|t| precision.widen(t));
        let inputs = match precision {
            Precision::F32 => Modes::<f32>::new(system, rule).vandermonde_inputs(),
            Precision::F64 => Modes::<f64>::new(system, rule).vandermonde_inputs(),
        };
        narrow(Flex::vandermonde(inputs, len), dtype)
    }

    fn diagonal_kernel_backward(
        system: DiagonalSystem<FlexTensor>,
        rule: Discretization,
        grad: FlexTensor,
    ) -> DiagonalSystem<FlexTensor> {
        let dtype = system.dt.dtype();
        let precision = Precision::of(&[dtype]);
        let (system, grad) = (system.map(|t| precision.widen(t)), precision.widen(grad));
        let grads = match precision {
            Precision::F32 => Modes::<f32>::new(system, rule).backward(grad),
            Precision::F64 => Modes::<f64>::new(system, rule).backward(grad),
        };
        grads.map(|t| narrow(t, dtype))
    }
}

/// A system's values on the host with its discretised modes.
struct Modes<T> {
    /// (C, H, N).
    dims: [usize; 3],
    dt: Vec<T>,
    a: Vec<Complex<T>>,
    b: Vec<Complex<T>>,
    c: Vec<Complex<T>>,
    rule: Discretization,
    /// log Ā per mode, (H, N).
    w: Vec<Complex<T>>,
    /// B̄ per mode, (H, N).
    p: Vec<Complex<T>>,
}

fn real_tensor<T: HostReal>(values: Vec<T>, shape: &[usize]) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(values, shape.to_vec()))
}

fn parts<T: HostReal>(values: &[Complex<T>], shape: &[usize]) -> (FlexTensor, FlexTensor) {
    (
        real_tensor(values.iter().map(|v| v.re).collect(), shape),
        real_tensor(values.iter().map(|v| v.im).collect(), shape),
    )
}

impl<T: HostReal> Modes<T> {
    fn new(s: DiagonalSystem<FlexTensor>, rule: Discretization) -> Self {
        let dims: [usize; 3] = s.c_re.shape().dims();
        let dt = values::<T>(&s.dt);
        let a = complex_values::<T>(&s.a_re, &s.a_im);
        let b = complex_values::<T>(&s.b_re, &s.b_im);
        let n = dims[2];
        let (w, p) = (0..a.len())
            .map(|i| discretize(dt[i / n], a[i], b[i], rule))
            .unzip();
        Self {
            dims,
            dt,
            a,
            b,
            c: complex_values::<T>(&s.c_re, &s.c_im),
            rule,
            w,
            p,
        }
    }

    /// w (H, N) and coef = C·p (C, H, N).
    fn vandermonde_inputs(&self) -> VandermondeInputs<FlexTensor> {
        let [_, h, n] = self.dims;
        let coef: Vec<Complex<T>> = (0..self.c.len())
            .map(|i| self.c[i] * self.p[i % (h * n)])
            .collect();
        let (w_re, w_im) = parts(&self.w, &[h, n]);
        let (coef_re, coef_im) = parts(&coef, &self.dims);
        VandermondeInputs {
            w_re,
            w_im,
            coef_re,
            coef_im,
        }
    }

    fn backward(self, grad: FlexTensor) -> DiagonalSystem<FlexTensor> {
        let [_, h, n] = self.dims;
        let g = Flex::vandermonde_backward(self.vandermonde_inputs(), grad);
        let grad_w = complex_values::<T>(&g.w_re, &g.w_im);
        let grad_coef = complex_values::<T>(&g.coef_re, &g.coef_im);
        let modes = h * n;
        let mut grad_p = vec![Complex::new(T::zero(), T::zero()); modes];
        let mut grad_c = Vec::with_capacity(self.c.len());
        for (i, (&gc, &c)) in grad_coef.iter().zip(&self.c).enumerate() {
            grad_p[i % modes] += gc * c.conj();
            grad_c.push(gc * self.p[i % modes].conj());
        }
        let mut grad_dt = vec![T::zero(); h];
        let mut grad_a = Vec::with_capacity(modes);
        let mut grad_b = Vec::with_capacity(modes);
        for i in 0..modes {
            let (gdt, ga, gb) = discretize_backward(
                self.dt[i / n],
                self.a[i],
                self.b[i],
                self.rule,
                grad_w[i],
                grad_p[i],
            );
            grad_dt[i / n] += gdt;
            grad_a.push(ga);
            grad_b.push(gb);
        }
        let (a_re, a_im) = parts(&grad_a, &[h, n]);
        let (b_re, b_im) = parts(&grad_b, &[h, n]);
        let (c_re, c_im) = parts(&grad_c, &self.dims);
        DiagonalSystem {
            dt: real_tensor(grad_dt, &[h]),
            a_re,
            a_im,
            b_re,
            b_im,
            c_re,
            c_im,
        }
    }
}
