//! The CPU (Flex) backend: one fused pass forward and two backward over the
//! channel-last tensors, (sequence, block of steps) tasks in parallel with
//! rayon, instead of the composite's K slices, broadcast products and
//! leading-axis sums (about 14 % of a Mamba training step at 32 × 200).
//! σ with the vectorisable [`exp_f32`](crate::ops::support::fast_math::exp_f32)
//! in f32 (2 ulp), std's exp in f64 ([`HostReal::sigmoid`]).
//! In f64 for f64 inputs, else in f32
//! ([`crate::ops::support::precision`]). The weight and bias sums of the
//! backward add each task's partial sums in task order, so results do not
//! depend on the thread count.

use burn::tensor::{TensorData, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use super::{CausalConv1dOps, ConvGrads};
use crate::ops::support::flex_values::{HostReal, values};
use crate::ops::support::precision::{Precision, narrow};

/// Steps per parallel task.
const STEPS: usize = 64;

impl CausalConv1dOps for Flex {
    fn causal_conv1d_forward(
        x: FlexTensor,
        history: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        silu: bool,
    ) -> FlexTensor {
        let dtype = x.dtype();
        let precision = Precision::of(&[dtype, history.dtype(), weight.dtype(), bias.dtype()]);
        let t = [x, history, weight, bias].map(|t| precision.widen(t));
        let y = match precision {
            Precision::F32 => forward::<f32>(&Conv::new(&t), silu),
            Precision::F64 => forward::<f64>(&Conv::new(&t), silu),
        };
        narrow(y, dtype)
    }

    fn causal_conv1d_backward(
        x: FlexTensor,
        history: FlexTensor,
        weight: FlexTensor,
        bias: FlexTensor,
        silu: bool,
        grad_y: FlexTensor,
    ) -> ConvGrads<FlexTensor> {
        let dtypes = [x.dtype(), history.dtype(), weight.dtype(), bias.dtype()];
        let precision = Precision::of(&[dtypes.as_slice(), &[grad_y.dtype()]].concat());
        let t = [x, history, weight, bias].map(|t| precision.widen(t));
        let grad_y = precision.widen(grad_y);
        let grads = match precision {
            Precision::F32 => backward::<f32>(&Conv::new(&t), silu, &grad_y),
            Precision::F64 => backward::<f64>(&Conv::new(&t), silu, &grad_y),
        };
        ConvGrads {
            x: narrow(grads.x, dtypes[0]),
            history: narrow(grads.history, dtypes[1]),
            weight: narrow(grads.weight, dtypes[2]),
            bias: narrow(grads.bias, dtypes[3]),
        }
    }
}

/// The inputs, packed: x (B, L, D), history (B, K − 1, D), the taps
/// transposed to (K, D) so that each is a contiguous row, bias (D).
struct Conv<T> {
    batch: usize,
    len: usize,
    dim: usize,
    k: usize,
    x: Vec<T>,
    history: Vec<T>,
    taps: Vec<T>,
    bias: Vec<T>,
}

impl<T: HostReal> Conv<T> {
    fn new([x, history, weight, bias]: &[FlexTensor; 4]) -> Self {
        let [batch, len, dim] = x.shape().dims::<3>();
        let k = weight.shape().dims::<2>()[1];
        let w = values::<T>(weight);
        let taps = (0..k)
            .flat_map(|i| (0..dim).map(move |d| (i, d)))
            .map(|(i, d)| w[d * k + i])
            .collect();
        Self {
            batch,
            len,
            dim,
            k,
            x: values(x),
            history: values(history),
            taps,
            bias: values(bias),
        }
    }

    /// Row s (D) of x̃ = history ++ x of sequence b, s < K − 1 + L.
    fn padded_row(&self, b: usize, s: usize) -> &[T] {
        let (d, h) = (self.dim, self.k - 1);
        if s < h {
            &self.history[(b * h + s) * d..][..d]
        } else {
            &self.x[(b * self.len + s - h) * d..][..d]
        }
    }

    /// The pre-activation rows (t0 .. t0 + n) of sequence b into `out`
    /// (n × D).
    fn pre_activation(&self, b: usize, t0: usize, out: &mut [T]) {
        let d = self.dim;
        for (j, row) in out.chunks_exact_mut(d).enumerate() {
            row.copy_from_slice(&self.bias);
            for i in 0..self.k {
                let (x, w) = (self.padded_row(b, t0 + j + i), &self.taps[i * d..][..d]);
                for ((y, &x), &w) in row.iter_mut().zip(x).zip(w) {
                    *y += w * x;
                }
            }
        }
    }

    /// `rows` (B, L, D) cut into the tasks' blocks of rows, in task order:
    /// (sequence, first step, the block).
    fn blocks<'a>(&self, rows: &'a mut [T]) -> Vec<(usize, usize, &'a mut [T])> {
        let mut blocks = Vec::new();
        let mut rest = rows;
        for (b, t0, n) in self.tasks() {
            let (block, tail) = rest.split_at_mut(n * self.dim);
            blocks.push((b, t0, block));
            rest = tail;
        }
        blocks
    }

    /// The (sequence, first step, steps) of every parallel task.
    fn tasks(&self) -> Vec<(usize, usize, usize)> {
        (0..self.batch)
            .flat_map(|b| (0..self.len).step_by(STEPS).map(move |t| (b, t)))
            .map(|(b, t)| (b, t, STEPS.min(self.len - t)))
            .collect()
    }
}

fn forward<T: HostReal>(c: &Conv<T>, silu: bool) -> FlexTensor {
    let d = c.dim;
    let mut y = vec![T::zero(); c.batch * c.len * d];
    // Tasks tile y in order: (b, t0) blocks of consecutive rows.
    c.blocks(&mut y).into_par_iter().for_each(|(b, t0, block)| {
        c.pre_activation(b, t0, block);
        if silu {
            block.iter_mut().for_each(|p| *p *= p.sigmoid());
        }
    });
    FlexTensor::from_data(TensorData::new(y, [c.batch, c.len, d]))
}

/// One backward task's results: its rows of ∂x, its rows of ∂history (the
/// first task of a sequence only), its partial ∂w (K, D) and ∂bias (D).
type TaskGrads<T> = (Vec<T>, Vec<T>, Vec<T>, Vec<T>);

fn backward<T: HostReal>(c: &Conv<T>, silu: bool, grad_y: &FlexTensor) -> ConvGrads<FlexTensor> {
    let (d, k, h) = (c.dim, c.k, c.k - 1);
    let tasks = c.tasks();
    // ĝ = ∂y·act′(p), with silu′(p) = σ(p)·(1 + p·(1 − σ(p))).
    let mut g = values::<T>(grad_y);
    if silu {
        c.blocks(&mut g).into_par_iter().for_each(|(b, t0, block)| {
            let mut p = vec![T::zero(); block.len()];
            c.pre_activation(b, t0, &mut p);
            for (g, &p) in block.iter_mut().zip(&p) {
                let s = p.sigmoid();
                *g *= s * (T::one() + p * (T::one() - s));
            }
        });
    }
    let g_row = |b: usize, t: usize| &g[(b * c.len + t) * d..][..d];
    // Per task: ∂x̃ rows for the task's steps of x (s = h + t) and, for the
    // first task of a sequence, the history rows too; partial ∂w and ∂bias.
    let parts: Vec<TaskGrads<T>> = tasks
        .par_iter()
        .map(|&(b, t0, n)| {
            let first = t0 == 0;
            let rows = if first { h + n } else { n };
            let s0 = if first { 0 } else { h + t0 };
            let mut dpad = vec![T::zero(); rows * d];
            for (j, out) in dpad.chunks_exact_mut(d).enumerate() {
                let s = s0 + j;
                // ∂x̃[s] = Σ_i w_i · ĝ[s − i], for 0 ≤ s − i < L.
                for i in 0..k {
                    if s < i || s - i >= c.len {
                        continue;
                    }
                    let (g, w) = (g_row(b, s - i), &c.taps[i * d..][..d]);
                    for ((o, &g), &w) in out.iter_mut().zip(g).zip(w) {
                        *o += w * g;
                    }
                }
            }
            let mut dw = vec![T::zero(); k * d];
            let mut db = vec![T::zero(); d];
            for t in t0..t0 + n {
                let g = g_row(b, t);
                for (acc, &g) in db.iter_mut().zip(g) {
                    *acc += g;
                }
                for i in 0..k {
                    let x = c.padded_row(b, t + i);
                    for ((acc, &g), &x) in dw[i * d..][..d].iter_mut().zip(g).zip(x) {
                        *acc += g * x;
                    }
                }
            }
            let (dhist, dx) = if first {
                let dx = dpad.split_off(h * d);
                (dpad, dx)
            } else {
                (Vec::new(), dpad)
            };
            (dx, dhist, dw, db)
        })
        .collect();
    let mut dx = Vec::with_capacity(c.batch * c.len * d);
    let mut dhist = Vec::with_capacity(c.batch * h * d);
    let (mut dw_t, mut db) = (vec![T::zero(); k * d], vec![T::zero(); d]);
    for (x, hist, w, bias) in parts {
        dx.extend_from_slice(&x);
        dhist.extend_from_slice(&hist);
        dw_t.iter_mut().zip(&w).for_each(|(a, &v)| *a += v);
        db.iter_mut().zip(&bias).for_each(|(a, &v)| *a += v);
    }
    // ∂w back to (D, K).
    let dw: Vec<T> = (0..d)
        .flat_map(|j| (0..k).map(move |i| (i, j)))
        .map(|(i, j)| dw_t[i * d + j])
        .collect();
    ConvGrads {
        x: FlexTensor::from_data(TensorData::new(dx, [c.batch, c.len, d])),
        history: FlexTensor::from_data(TensorData::new(dhist, [c.batch, h, d])),
        weight: FlexTensor::from_data(TensorData::new(dw, [d, k])),
        bias: FlexTensor::from_data(TensorData::new(db, [d])),
    }
}
