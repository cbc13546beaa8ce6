//! The CPU (Flex) backend: one pass each way over packed rows, rows in
//! parallel with rayon, instead of the composite's strided products of the
//! two halves. σ(b) = 1/(1 + e^{−b}) with the vectorisable
//! [`exp_f32`](crate::ops::support::fast_math::exp_f32) in f32 (2 ulp), std's
//! exp in f64 ([`HostReal::sigmoid`]). In f64 for f64 inputs, else in f32
//! ([`crate::ops::support::precision`]).

use burn::tensor::{TensorData, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use super::GluOps;
use crate::ops::support::flex_values::{HostReal, packed};
use crate::ops::support::fresh::Fresh;
use crate::ops::support::precision::{Precision, narrow};
use crate::ops::support::wide::wide;

/// Output elements per parallel task (whole rows).
const CHUNK: usize = 1 << 13;

impl GluOps for Flex {
    fn glu(x: FlexTensor) -> FlexTensor {
        let dtype = x.dtype();
        let precision = Precision::of(&[dtype]);
        let x = precision.widen(x);
        let y = match precision {
            Precision::F32 => forward::<f32>(&x),
            Precision::F64 => forward::<f64>(&x),
        };
        narrow(y, dtype)
    }

    fn glu_backward(x: FlexTensor, grad: FlexTensor) -> FlexTensor {
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

/// Rows per parallel task, for rows of `h` outputs.
fn rows_per_task(h: usize) -> usize {
    (CHUNK / h.max(1)).max(1)
}

fn forward<T: HostReal>(x: &FlexTensor) -> FlexTensor {
    let mut shape = x.shape();
    let last = shape.num_dims() - 1;
    let h = shape[last] / 2;
    shape[last] = h;
    let x = packed(x);
    let x = x.storage::<T>();
    let rows = rows_per_task(h);
    let mut y = Fresh::new(x.len() / 2);
    y.slots()
        .par_chunks_mut(rows * h)
        .zip(x.par_chunks(rows * 2 * h))
        .for_each(|(y, x)| {
            for (y, x) in y.chunks_exact_mut(h).zip(x.chunks_exact(2 * h)) {
                let (a, b) = x.split_at(h);
                wide!({
                    for ((y, &a), &b) in y.iter_mut().zip(a).zip(b) {
                        y.write(a * b.sigmoid());
                    }
                });
            }
        });
    // SAFETY: the rows cover y, each slot written once.
    FlexTensor::from_data(TensorData::new(unsafe { y.written() }, shape))
}

fn backward<T: HostReal>(x: &FlexTensor, grad: &FlexTensor) -> FlexTensor {
    let shape = x.shape();
    let h = shape[shape.num_dims() - 1] / 2;
    let (x, grad) = (packed(x), packed(grad));
    let (x, grad) = (x.storage::<T>(), grad.storage::<T>());
    let rows = rows_per_task(h);
    let mut dx = Fresh::new(x.len());
    dx.slots()
        .par_chunks_mut(rows * 2 * h)
        .zip(x.par_chunks(rows * 2 * h))
        .zip(grad.par_chunks(rows * h))
        .for_each(|((dx, x), g)| {
            for ((dx, x), g) in dx
                .chunks_exact_mut(2 * h)
                .zip(x.chunks_exact(2 * h))
                .zip(g.chunks_exact(h))
            {
                let (da, db) = dx.split_at_mut(h);
                let (a, b) = x.split_at(h);
                wide!({
                    for ((((da, db), &a), &b), &g) in
                        da.iter_mut().zip(db.iter_mut()).zip(a).zip(b).zip(g)
                    {
                        let s = b.sigmoid();
                        da.write(g * s);
                        db.write(g * a * s * (T::one() - s));
                    }
                });
            }
        });
    // SAFETY: the rows cover dx, both halves of each written once.
    FlexTensor::from_data(TensorData::new(unsafe { dx.written() }, shape))
}
