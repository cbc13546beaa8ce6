//! The fused CPU 2-D scan: per batch element (in parallel), one pass over
//! the grid per (channel, state) that keeps the pass's states and decays
//! (T × V each); the backward reruns that pass, then runs the adjoint
//! recurrence from the last cell with one row of g¹ (V). In f64 for f64
//! inputs, else in f32 ([`crate::ops::support::precision`]).

use burn::tensor::{TensorData, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use super::zoh::{phi, phi_rate_slope};
use super::{Scan2dInputs, Scan2dOps};
use crate::ops::support::flex_values::{HostReal, values};
use crate::ops::support::precision::{Precision, narrow};

impl Scan2dOps for Flex {
    fn scan2d(x: Scan2dInputs<FlexTensor>) -> FlexTensor {
        let dtype = x.u.dtype();
        let shape = x.u.shape().to_vec();
        let precision = Precision::of(&[dtype]);
        let x = x.map(|t| precision.widen(t));
        let y = match precision {
            Precision::F32 => TensorData::new(forward(&Host::<f32>::new(&x)), shape),
            Precision::F64 => TensorData::new(forward(&Host::<f64>::new(&x)), shape),
        };
        narrow(FlexTensor::from_data(y), dtype)
    }

    fn scan2d_backward(x: Scan2dInputs<FlexTensor>, grad: FlexTensor) -> Scan2dInputs<FlexTensor> {
        let dtype = x.u.dtype();
        let shapes = x.clone().map(|t| t.shape().to_vec());
        let precision = Precision::of(&[dtype]);
        let x = x.map(|t| precision.widen(t));
        let grad = precision.widen(grad);
        let tensors = |grads: Scan2dInputs<TensorData>| {
            grads.map(|g| narrow(FlexTensor::from_data(g), dtype))
        };
        match precision {
            Precision::F32 => tensors(host_backward::<f32>(&x, &grad, shapes)),
            Precision::F64 => tensors(host_backward::<f64>(&x, &grad, shapes)),
        }
    }
}

/// The gradients in precision `T`, shaped as `shapes`.
fn host_backward<T: HostReal>(
    x: &Scan2dInputs<FlexTensor>,
    grad: &FlexTensor,
    shapes: Scan2dInputs<Vec<usize>>,
) -> Scan2dInputs<TensorData> {
    let mut shapes = shapes.into_array().into_iter();
    backward(&Host::<T>::new(x), &values::<T>(grad))
        .map(|g| TensorData::new(g, shapes.next().expect("a shape per gradient")))
}

/// The grid's extents.
#[derive(Clone, Copy)]
struct Dims {
    batch: usize,
    time: usize,
    variates: usize,
    channels: usize,
    states: usize,
}

/// The inputs in host memory, row-major as [`Scan2dInputs`] states.
struct Host<T> {
    dims: Dims,
    x: Scan2dInputs<Vec<T>>,
}

impl<T: HostReal> Host<T> {
    fn new(x: &Scan2dInputs<FlexTensor>) -> Self {
        let [batch, time, variates, channels] = x.u.shape().dims::<4>();
        let dims = Dims {
            batch,
            time,
            variates,
            channels,
            states: x.b1.shape().dims::<4>()[3],
        };
        Self {
            dims,
            x: x.clone().map(|t| values::<T>(&t)),
        }
    }

    /// Runs `cell(t, v, se, sn)` over the grid of batch element `b`, time
    /// outermost: `se` indexes the channel rows (B, T, V, E) at channel
    /// `e`, `sn` the state rows (B, T, V, N) at state `n`.
    fn for_cells(
        &self,
        b: usize,
        e: usize,
        n: usize,
        mut cell: impl FnMut(usize, usize, usize, usize),
    ) {
        let d = self.dims;
        for t in 0..d.time {
            for v in 0..d.variates {
                let at = (b * d.time + t) * d.variates + v;
                cell(t, v, at * d.channels + e, at * d.states + n);
            }
        }
    }

    /// The pass over batch element `b`'s grid for channel `e` and state
    /// `n`: every cell's states and decays.
    fn pass(&self, b: usize, e: usize, n: usize) -> Pass<T> {
        let d = self.dims;
        let p = e * d.states + n;
        let (a1, a2, a3, a4) = (self.x.a1[p], self.x.a2[p], self.x.a3[p], self.x.a4[p]);
        let cells = d.time * d.variates;
        let mut pass = Pass {
            h1: vec![T::zero(); cells],
            h2: vec![T::zero(); cells],
            bar1: vec![T::zero(); cells],
            bar4: vec![T::zero(); cells],
        };
        self.for_cells(b, e, n, |t, v, se, sn| {
            let here = t * d.variates + v;
            let (dt1, dt2) = (self.x.dt1[se], self.x.dt2[se]);
            let (bar1, bar4) = ((dt1 * a1).exp(), (dt2 * a4).exp());
            let (phi1, phi2) = (phi(dt1, a1), phi(dt2, a4));
            let u = self.x.u[se];
            let (h1p, h2p) = pass.before(here, t > 0, d.variates);
            let (h1q, h2q) = pass.before(here, v > 0, 1);
            pass.h1[here] = bar1 * h1p + phi1 * (a2 * h2p + self.x.b1[sn] * u);
            pass.h2[here] = bar4 * h2q + phi2 * (a3 * h1q + self.x.b2[sn] * u);
            pass.bar1[here] = bar1;
            pass.bar4[here] = bar4;
        });
        pass
    }
}

/// One (batch, channel, state)'s grid, (T, V) row-major: the states and
/// the decays Ā₁, Ā₄ of every cell.
struct Pass<T> {
    h1: Vec<T>,
    h2: Vec<T>,
    bar1: Vec<T>,
    bar4: Vec<T>,
}

impl<T: HostReal> Pass<T> {
    /// (h¹, h²) of the cell `back` cells before `here`, or zeros where
    /// `inside` is false (the grid's edge).
    fn before(&self, here: usize, inside: bool, back: usize) -> (T, T) {
        if inside {
            (self.h1[here - back], self.h2[here - back])
        } else {
            (T::zero(), T::zero())
        }
    }
}

/// y (B, T, V, E).
fn forward<T: HostReal>(host: &Host<T>) -> Vec<T> {
    let d = host.dims;
    let per_batch = d.time * d.variates * d.channels;
    let mut y = vec![T::zero(); d.batch * per_batch];
    if per_batch == 0 {
        return y;
    }
    y.par_chunks_mut(per_batch).enumerate().for_each(|(b, y)| {
        for e in 0..d.channels {
            for n in 0..d.states {
                let pass = host.pass(b, e, n);
                host.for_cells(b, e, n, |t, v, _, sn| {
                    let here = t * d.variates + v;
                    y[here * d.channels + e] +=
                        host.x.c1[sn] * pass.h1[here] + host.x.c2[sn] * pass.h2[here];
                });
            }
        }
    });
    y
}

/// Every input's gradient from ∂ℓ/∂y, one batch element per task.
fn backward<T: HostReal>(host: &Host<T>, grad: &[T]) -> Scan2dInputs<Vec<T>> {
    let d = host.dims;
    let cells = d.time * d.variates;
    let parameters = d.channels * d.states;
    // The lengths of the gradients of `batch` batch elements.
    let lengths = |batch: usize| {
        let (rows_e, rows_n) = (batch * cells * d.channels, batch * cells * d.states);
        let p = parameters;
        [
            p, p, p, p, rows_e, rows_e, rows_e, rows_n, rows_n, rows_n, rows_n,
        ]
    };
    let zeros = |len: usize| vec![T::zero(); len];
    let per_batch: Vec<[Vec<T>; 11]> = (0..d.batch)
        .into_par_iter()
        .map(|b| {
            let mut g = Scan2dInputs::from_array(lengths(1)).map(zeros);
            for e in 0..d.channels {
                for n in 0..d.states {
                    adjoint(host, grad, b, e, n, &mut g);
                }
            }
            g.into_array()
        })
        .collect();
    // The parameters' gradients summed over the batch, the rest in order.
    let mut total = lengths(d.batch).map(zeros);
    for (b, g) in per_batch.into_iter().enumerate() {
        for (i, (all, part)) in total.iter_mut().zip(g).enumerate() {
            if i < 4 {
                all.iter_mut().zip(part).for_each(|(s, p)| *s += p);
            } else {
                all[b * part.len()..(b + 1) * part.len()].copy_from_slice(&part);
            }
        }
    }
    Scan2dInputs::from_array(total)
}

/// Adds the gradients of batch element `b`, channel `e`, state `n` to `g`
/// (that element's rows: (T, V, E) and (T, V, N); the parameters (E, N)).
fn adjoint<T: HostReal>(
    host: &Host<T>,
    grad: &[T],
    b: usize,
    e: usize,
    n: usize,
    g: &mut Scan2dInputs<Vec<T>>,
) {
    let d = host.dims;
    let x = &host.x;
    let p = e * d.states + n;
    let (a1, a2, a3, a4) = (x.a1[p], x.a2[p], x.a3[p], x.a4[p]);
    let pass = host.pass(b, e, n);
    let zero = T::zero();
    // g¹ of the next time step, per variate.
    let mut row = vec![zero; d.variates];
    let batch_start = b * d.time * d.variates;
    for t in (0..d.time).rev() {
        // g², Ā₄ and φ₂ of the next variate at this time step.
        let (mut g2_next, mut bar4_next, mut phi2_next) = (zero, zero, zero);
        for v in (0..d.variates).rev() {
            let at = (b * d.time + t) * d.variates + v;
            let (se, sn) = (at * d.channels + e, at * d.states + n);
            let (le, ln) = (
                (at - batch_start) * d.channels + e,
                (at - batch_start) * d.states + n,
            );
            let here = t * d.variates + v;
            let dy = grad[se];
            let (bar1_next, phi1_next) = if t + 1 < d.time {
                let next = se + d.variates * d.channels;
                (pass.bar1[here + d.variates], phi(x.dt1[next], a1))
            } else {
                (zero, zero)
            };
            let g1 = x.c1[sn] * dy + bar1_next * row[v] + phi2_next * a3 * g2_next;
            let g2 = x.c2[sn] * dy + phi1_next * a2 * row[v] + bar4_next * g2_next;
            let (bar1, bar4) = (pass.bar1[here], pass.bar4[here]);
            let (dt1, dt2) = (x.dt1[se], x.dt2[se]);
            let (phi1, phi2) = (phi(dt1, a1), phi(dt2, a4));
            let (h1p, h2p) = pass.before(here, t > 0, d.variates);
            let (h1q, h2q) = pass.before(here, v > 0, 1);
            let (u, b1, b2) = (x.u[se], x.b1[sn], x.b2[sn]);
            let d_bar1 = g1 * h1p;
            let d_phi1 = g1 * (a2 * h2p + b1 * u);
            let d_bar4 = g2 * h2q;
            let d_phi2 = g2 * (a3 * h1q + b2 * u);
            g.a1[p] += d_bar1 * dt1 * bar1 + d_phi1 * phi_rate_slope(dt1, a1);
            g.a2[p] += g1 * phi1 * h2p;
            g.a3[p] += g2 * phi2 * h1q;
            g.a4[p] += d_bar4 * dt2 * bar4 + d_phi2 * phi_rate_slope(dt2, a4);
            g.dt1[le] += (d_bar1 * a1 + d_phi1) * bar1;
            g.dt2[le] += (d_bar4 * a4 + d_phi2) * bar4;
            g.u[le] += g1 * phi1 * b1 + g2 * phi2 * b2;
            g.b1[ln] += g1 * phi1 * u;
            g.b2[ln] += g2 * phi2 * u;
            g.c1[ln] += dy * pass.h1[here];
            g.c2[ln] += dy * pass.h2[here];
            row[v] = g1;
            (g2_next, bar4_next, phi2_next) = (g2, bar4, phi2);
        }
    }
}
