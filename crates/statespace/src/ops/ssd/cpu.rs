//! SSD on the CPU: one recurrence per (batch, head), heads in parallel with
//! rayon, each state row (N values) updated as a vector.
//!
//! Backward, per (batch, head), from the end: with g = ∂loss/∂h_t,
//!   g += dy_t ⊗ C_t,           dC_t += h_tᵀ dy_t,
//!   dx_t = g B_t,              dB_t += gᵀ x_t,
//!   da_t = e^{a_t} ⟨g, h_{t−1}⟩, g ← e^{a_t} g,
//! where a reset position has decay 0 (so da_t = 0 there) and the states are
//! recomputed from checkpoints every [`CHUNK`] steps.
//!
//! In f64 for f64 inputs, else in f32 (16-bit inputs widened, see
//! [`crate::ops::support::precision`]).

use burn::tensor::ops::FloatTensor;
use burn::tensor::{Element, TensorData, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use num_traits::Float;
use rayon::prelude::*;

use super::{CHUNK, SsdArgs, SsdOps, SsdTensors};
use crate::ops::support::fixed_parts::fold_in_parts;
use crate::ops::support::flex_values::values;
use crate::ops::support::precision::{Precision, narrow};
use crate::ops::support::row_update::decay_update_dot;

impl SsdOps for Flex {
    fn ssd_forward(
        inputs: SsdTensors<FlexTensor>,
        args: &SsdArgs,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let dtype = inputs.x.dtype();
        let precision = Precision::of(&[dtype]);
        let inputs = inputs.map(|t| precision.widen(t));
        let (y, last) = match precision {
            Precision::F32 => forward::<f32>(&inputs, args),
            Precision::F64 => forward::<f64>(&inputs, args),
        };
        (narrow(y, dtype), narrow(last, dtype))
    }

    fn ssd_backward(
        inputs: SsdTensors<FlexTensor>,
        grad_y: FlexTensor,
        grad_final: FlexTensor,
        args: &SsdArgs,
    ) -> SsdTensors<FloatTensor<Self>> {
        let dtypes = inputs.clone().map(|t| t.dtype());
        let precision = Precision::of(&[dtypes.x]);
        let inputs = inputs.map(|t| precision.widen(t));
        let [grad_y, grad_final] = [grad_y, grad_final].map(|t| precision.widen(t));
        let grads = match precision {
            Precision::F32 => backward::<f32>(&inputs, &grad_y, &grad_final, args),
            Precision::F64 => backward::<f64>(&inputs, &grad_y, &grad_final, args),
        };
        grads.zip(dtypes).map(|(g, dtype)| narrow(g, dtype))
    }
}

trait Real: Float + Element + bytemuck::Pod + Send + Sync {
    /// h ← decay · h + scale · b; returns c · h.
    fn update_row(h: &mut [Self], decay: Self, scale: Self, b: &[Self], c: &[Self]) -> Self {
        let mut y = Self::zero();
        for ((h, &b), &c) in h.iter_mut().zip(b).zip(c) {
            *h = *h * decay + scale * b;
            y = y + c * *h;
        }
        y
    }
}
impl Real for f32 {
    fn update_row(h: &mut [f32], decay: f32, scale: f32, b: &[f32], c: &[f32]) -> f32 {
        decay_update_dot(h, decay, scale, b, c)
    }
}
impl Real for f64 {}

fn tensor<T: Real>(data: Vec<T>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape))
}

/// Host copies of the inputs and the sizes.
struct Problem<'a, T> {
    batch: usize,
    len: usize,
    heads: usize,
    p: usize,
    groups: usize,
    n: usize,
    x: Vec<T>,
    a: Vec<T>,
    b: Vec<T>,
    c: Vec<T>,
    init: Option<Vec<T>>,
    args: &'a SsdArgs,
}

impl<'a, T: Real> Problem<'a, T> {
    fn new(t: &SsdTensors<FlexTensor>, args: &'a SsdArgs) -> Self {
        let x_shape = t.x.shape();
        let b_shape = t.b.shape();
        Self {
            batch: x_shape[0],
            len: x_shape[1],
            heads: x_shape[2],
            p: x_shape[3],
            groups: b_shape[2],
            n: b_shape[3],
            x: values(&t.x),
            a: values(&t.a),
            b: values(&t.b),
            c: values(&t.c),
            init: args.has_initial_state.then(|| values(&t.initial_state)),
            args,
        }
    }

    /// The decay e^{a_t} of (batch, head) at t; 0 where a sequence starts.
    fn decay(&self, bi: usize, h: usize, t: usize) -> T {
        let resets = self
            .args
            .starts
            .as_ref()
            .is_some_and(|s| s.resets_at(bi, t));
        if resets {
            T::zero()
        } else {
            self.a[(bi * self.len + t) * self.heads + h].exp()
        }
    }

    /// Offset of x[bi, t, h, ·].
    fn x_at(&self, bi: usize, t: usize, h: usize) -> usize {
        ((bi * self.len + t) * self.heads + h) * self.p
    }

    /// Offset of B[bi, t, g, ·] (and C) for head h's group.
    fn bc_at(&self, bi: usize, t: usize, h: usize) -> usize {
        let g = h / (self.heads / self.groups);
        ((bi * self.len + t) * self.groups + g) * self.n
    }

    /// Loads the state entering the sequence for (batch, head) `bh`.
    fn initial_state(&self, bh: usize, state: &mut [T]) {
        let size = self.p * self.n;
        match &self.init {
            Some(init) => state.copy_from_slice(&init[bh * size..(bh + 1) * size]),
            None => state.iter_mut().for_each(|v| *v = T::zero()),
        }
    }

    /// One step at t: state ← decay · state + x_t ⊗ B_t; y (P) ← state · C_t.
    fn step(&self, bi: usize, h: usize, t: usize, state: &mut [T], y: &mut [T]) {
        let decay = self.decay(bi, h, t);
        let (xo, bo) = (self.x_at(bi, t, h), self.bc_at(bi, t, h));
        let (b, c) = (&self.b[bo..bo + self.n], &self.c[bo..bo + self.n]);
        for (i, (row, y)) in state.chunks_exact_mut(self.n).zip(y).enumerate() {
            *y = T::update_row(row, decay, self.x[xo + i], b, c);
        }
    }
}

fn forward<T: Real>(t: &SsdTensors<FlexTensor>, args: &SsdArgs) -> (FlexTensor, FlexTensor) {
    let pr = Problem::<T>::new(t, args);
    let (batch, len, heads, p, n) = (pr.batch, pr.len, pr.heads, pr.p, pr.n);
    let mut last = vec![T::zero(); batch * heads * p * n];
    // Per (batch, head): its outputs (L, P), scattered into y afterwards.
    let per_head: Vec<Vec<T>> = last
        .par_chunks_mut((p * n).max(1))
        .enumerate()
        .map(|(bh, state)| {
            let (bi, h) = (bh / heads, bh % heads);
            pr.initial_state(bh, state);
            let mut ys = vec![T::zero(); len * p];
            for (ti, y) in ys.chunks_exact_mut(p.max(1)).enumerate().take(len) {
                pr.step(bi, h, ti, state, y);
            }
            ys
        })
        .collect();
    let mut y = vec![T::zero(); batch * len * heads * p];
    for (bh, ys) in per_head.iter().enumerate() {
        let (bi, h) = (bh / heads, bh % heads);
        for ti in 0..len {
            let at = pr.x_at(bi, ti, h);
            y[at..at + p].copy_from_slice(&ys[ti * p..(ti + 1) * p]);
        }
    }
    (
        tensor(y, vec![batch, len, heads, p]),
        tensor(last, vec![batch, heads, p, n]),
    )
}

/// Gradients of B and C, which sum over the heads of a group: one set per
/// worker thread, added at the end.
struct SharedGrads<T> {
    b: Vec<T>,
    c: Vec<T>,
}

impl<T: Real> SharedGrads<T> {
    fn zeros(size: usize) -> Self {
        Self {
            b: vec![T::zero(); size],
            c: vec![T::zero(); size],
        }
    }

    fn add(mut self, other: Self) -> Self {
        for (x, y) in [(&mut self.b, &other.b), (&mut self.c, &other.c)] {
            x.iter_mut().zip(y).for_each(|(x, y)| *x = *x + *y);
        }
        self
    }
}

/// One (batch, head)'s own gradients: dx (L, P), da (L), d initial state (P·N).
struct HeadGrads<T> {
    x: Vec<T>,
    a: Vec<T>,
    init: Vec<T>,
}

fn backward<T: Real>(
    t: &SsdTensors<FlexTensor>,
    grad_y: &FlexTensor,
    grad_final: &FlexTensor,
    args: &SsdArgs,
) -> SsdTensors<FlexTensor> {
    let pr = Problem::<T>::new(t, args);
    let gy: Vec<T> = values(grad_y);
    let g_final: Vec<T> = values(grad_final);
    let (batch, len, heads, p, n) = (pr.batch, pr.len, pr.heads, pr.p, pr.n);
    let size = p * n;
    let chunks = len.div_ceil(CHUNK).max(1);
    let (mut per_head, shared): (Vec<(usize, HeadGrads<T>)>, SharedGrads<T>) = fold_in_parts(
        (0..batch * heads).into_par_iter(),
        || (Vec::new(), SharedGrads::zeros(pr.b.len())),
        |(mut heads_done, mut shared), bh| {
            let (bi, h) = (bh / heads, bh % heads);
            // Pass 1: the state entering each chunk.
            let mut checkpoints = vec![T::zero(); chunks * size];
            let mut state = vec![T::zero(); size];
            let mut y = vec![T::zero(); p];
            pr.initial_state(bh, &mut state);
            for ti in 0..len {
                if ti % CHUNK == 0 {
                    checkpoints[(ti / CHUNK) * size..][..size].copy_from_slice(&state);
                }
                pr.step(bi, h, ti, &mut state, &mut y);
            }
            // Pass 2: chunks from the end, states recomputed.
            let mut g = g_final[bh * size..(bh + 1) * size].to_vec();
            let mut own = HeadGrads {
                x: vec![T::zero(); len * p],
                a: vec![T::zero(); len],
                init: Vec::new(),
            };
            let mut states = vec![T::zero(); (CHUNK + 1) * size];
            for k in (0..chunks).rev() {
                let (t0, t1) = (k * CHUNK, ((k + 1) * CHUNK).min(len));
                states[..size].copy_from_slice(&checkpoints[k * size..(k + 1) * size]);
                for ti in t0..t1 {
                    let (before, after) = states.split_at_mut((ti - t0 + 1) * size);
                    after[..size].copy_from_slice(&before[(ti - t0) * size..]);
                    pr.step(bi, h, ti, &mut after[..size], &mut y);
                }
                for ti in (t0..t1).rev() {
                    let h_prev = &states[(ti - t0) * size..(ti - t0 + 1) * size];
                    let h_t = &states[(ti - t0 + 1) * size..(ti - t0 + 2) * size];
                    let (xo, bo) = (pr.x_at(bi, ti, h), pr.bc_at(bi, ti, h));
                    let (b, c) = (&pr.b[bo..bo + n], &pr.c[bo..bo + n]);
                    let decay = pr.decay(bi, h, ti);
                    let mut inner = T::zero();
                    for i in 0..p {
                        let dy = gy[xo + i];
                        let xi = pr.x[xo + i];
                        let g_row = &mut g[i * n..(i + 1) * n];
                        let h_row = &h_t[i * n..(i + 1) * n];
                        let prev_row = &h_prev[i * n..(i + 1) * n];
                        let mut dx = T::zero();
                        for j in 0..n {
                            g_row[j] = g_row[j] + dy * c[j];
                            shared.c[bo + j] = shared.c[bo + j] + h_row[j] * dy;
                            dx = dx + g_row[j] * b[j];
                            shared.b[bo + j] = shared.b[bo + j] + g_row[j] * xi;
                            inner = inner + g_row[j] * prev_row[j];
                        }
                        own.x[ti * p + i] = dx;
                    }
                    own.a[ti] = decay * inner;
                    g.iter_mut().for_each(|v| *v = *v * decay);
                }
            }
            own.init = g;
            heads_done.push((bh, own));
            (heads_done, shared)
        },
        |(mut a, sa), (b, sb)| {
            a.extend(b);
            (a, sa.add(sb))
        },
    );
    per_head.sort_by_key(|(bh, _)| *bh);
    let mut dx = vec![T::zero(); batch * len * heads * p];
    let mut da = vec![T::zero(); batch * len * heads];
    let mut dinit = vec![T::zero(); batch * heads * size];
    for (bh, own) in per_head {
        let (bi, h) = (bh / heads, bh % heads);
        for ti in 0..len {
            let at = pr.x_at(bi, ti, h);
            dx[at..at + p].copy_from_slice(&own.x[ti * p..(ti + 1) * p]);
            da[(bi * len + ti) * heads + h] = own.a[ti];
        }
        dinit[bh * size..(bh + 1) * size].copy_from_slice(&own.init);
    }
    let init_grad = if args.has_initial_state {
        tensor(dinit, vec![batch, heads, p, n])
    } else {
        tensor(vec![T::zero()], vec![1])
    };
    SsdTensors {
        x: tensor(dx, vec![batch, len, heads, p]),
        a: tensor(da, vec![batch, len, heads]),
        b: tensor(shared.b, t.b.shape().to_vec()),
        c: tensor(shared.c, t.c.shape().to_vec()),
        initial_state: init_grad,
    }
}
