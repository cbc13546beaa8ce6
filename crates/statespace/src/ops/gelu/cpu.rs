//! The CPU (Flex) backend: one fused pass each way, chunks of the
//! activation in parallel with rayon, instead of the composite's five
//! tensor ops forward and about ten backward. Each element goes through the
//! composite's float operations in the composite's order. In f64 (for f64
//! inputs) erf and exp are libm's and std's, those Flex's tensor ops call,
//! so the results are the same bits as the composite's. In f32 (every other
//! input, [`crate::ops::support::precision`]) Φ is the vectorisable
//! [`normal_cdf_f32`](crate::ops::support::fast_math::normal_cdf_f32)
//! (within 8·10⁻⁶ relative down to x = −13, where the composite's
//! ½(1 + erf) in f32 cancels; the GPU kernel computes Φ the same way) and
//! exp is [`exp_f32`](crate::ops::support::fast_math::exp_f32) (2 ulp): libm's
//! scalar erff and expf were about 14 % of an S4D training step.

use std::f64::consts::PI;

use burn::tensor::{TensorData, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use super::GeluOps;
use crate::ops::support::flex_values::{HostReal, packed};
use crate::ops::support::fresh::Fresh;
use crate::ops::support::precision::{Precision, narrow};
use crate::ops::support::wide::wide;

/// Elements per parallel task.
const CHUNK: usize = 1 << 14;

impl GeluOps for Flex {
    fn gelu_exact(x: FlexTensor) -> FlexTensor {
        let dtype = x.dtype();
        let precision = Precision::of(&[dtype]);
        let x = precision.widen(x);
        let y = match precision {
            Precision::F32 => forward::<f32>(&x),
            Precision::F64 => forward::<f64>(&x),
        };
        narrow(y, dtype)
    }

    fn gelu_exact_backward(x: FlexTensor, grad: FlexTensor) -> FlexTensor {
        let dtype = x.dtype();
        let precision = Precision::of(&[dtype, grad.dtype()]);
        let [x, grad] = [x, grad].map(|t| precision.widen(t));
        let dx = match precision {
            Precision::F32 => backward::<f32>(&x, &grad),
            Precision::F64 => backward::<f64>(&x, &grad),
        };
        narrow(dx, dtype)
    }
}

fn forward<T: HostReal>(x: &FlexTensor) -> FlexTensor {
    let shape = x.shape();
    let x = packed(x);
    let x = x.storage::<T>();
    let mut y = Fresh::new(x.len());
    y.slots()
        .par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK))
        .for_each(|(y, x)| {
            wide!({
                for (y, &x) in y.iter_mut().zip(x) {
                    y.write(x * x.normal_cdf());
                }
            })
        });
    // SAFETY: the chunks cover y, each slot written once.
    FlexTensor::from_data(TensorData::new(unsafe { y.written() }, shape))
}

fn backward<T: HostReal>(x: &FlexTensor, grad: &FlexTensor) -> FlexTensor {
    let shape = x.shape();
    let (x, grad) = (packed(x), packed(grad));
    let (x, grad) = (x.storage::<T>(), grad.storage::<T>());
    let mut dx = Fresh::new(x.len());
    let scale = T::constant(1.0 / (2.0 * PI).sqrt());
    dx.slots()
        .par_chunks_mut(CHUNK)
        .zip(x.par_chunks(CHUNK).zip(grad.par_chunks(CHUNK)))
        .for_each(|(dx, (x, g))| {
            wide!({
                for ((dx, &x), &g) in dx.iter_mut().zip(x).zip(g) {
                    let density = ((x * x) * T::constant(-0.5)).exponential() * scale;
                    dx.write(g * (x.normal_cdf() + x * density));
                }
            })
        });
    // SAFETY: the chunks cover dx, each slot written once.
    FlexTensor::from_data(TensorData::new(unsafe { dx.written() }, shape))
}
