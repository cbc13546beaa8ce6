//! The selective scan on the CPU: one sequential recurrence per (batch row,
//! channel), channels in parallel with rayon. B and C are transposed to
//! (batch, G, L, N) first so each step reads them contiguously. In f64 when
//! the activations or the parameters are f64, else in f32 (16-bit inputs
//! widened, see [`crate::ops::support::precision`]); the output comes back
//! in the activations' dtype, the last state in the parameters'.

use burn::tensor::ops::FloatTensor;
use burn::tensor::{TensorData, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use super::{CHUNK, ScanArgs, ScanGrads, ScanTensors, SelectiveScanOps};
use crate::ops::support::fixed_parts::fold_in_parts;
use crate::ops::support::flex_values::{HostReal, values};
use crate::ops::support::precision::{Precision, narrow};

impl SelectiveScanOps for Flex {
    fn selective_scan_forward(
        inputs: ScanTensors<FlexTensor>,
        args: &ScanArgs,
    ) -> (FlexTensor, FlexTensor) {
        let (activations, params) = (inputs.u.dtype(), inputs.a.dtype());
        let precision = Precision::of(&[activations, params]);
        let inputs = inputs.map(|t| precision.widen(t));
        let (out, last) = match precision {
            Precision::F32 => forward::<f32>(&inputs, args),
            Precision::F64 => forward::<f64>(&inputs, args),
        };
        (narrow(out, activations), narrow(last, params))
    }

    fn selective_scan_backward(
        inputs: ScanTensors<FlexTensor>,
        grad_out: FlexTensor,
        grad_last_state: FlexTensor,
        args: &ScanArgs,
    ) -> ScanGrads<FloatTensor<Self>> {
        let dtypes = inputs.clone().map(|t| t.dtype());
        let precision = Precision::of(&[dtypes.u, dtypes.a]);
        let inputs = inputs.map(|t| precision.widen(t));
        let [grad_out, grad_last] = [grad_out, grad_last_state].map(|t| precision.widen(t));
        let grads = match precision {
            Precision::F32 => backward::<f32>(&inputs, &grad_out, &grad_last, args),
            Precision::F64 => backward::<f64>(&inputs, &grad_out, &grad_last, args),
        };
        grads.zip(dtypes).map(|(g, dtype)| narrow(g, dtype))
    }
}

/// The scan's float types: the decays use [`HostReal::exponential`] and the
/// derivative of Δ's softplus [`HostReal::sigmoid`] (vectorisable in f32).
trait Real: HostReal + std::iter::Sum {
    /// softplus(x) for Δ (x itself above 20, as torch): vectorisable in f32
    /// (a few ulp), libm's exp and ln_1p in f64.
    fn fast_softplus(self) -> Self;

    /// The forward recurrence of one (batch, channel) row: outputs into
    /// `out` (L), the last state into `x` (N).
    fn scan_row(p: &Problem<Self>, row: usize, out: &mut [Self], x: &mut [Self]) {
        scan_row(p, row, out, x);
    }
}
impl Real for f32 {
    #[inline(always)]
    fn fast_softplus(self) -> Self {
        crate::ops::support::fast_math::softplus_f32(self)
    }

    fn scan_row(p: &Problem<Self>, row: usize, out: &mut [Self], x: &mut [Self]) {
        #[cfg(target_arch = "x86_64")]
        if p.n.is_multiple_of(8)
            && std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma")
        {
            // SAFETY: the CPU has both features, checked just above.
            unsafe { scan_row_avx2(p, row, out, x) };
            return;
        }
        scan_row(p, row, out, x);
    }
}
impl Real for f64 {
    fn fast_softplus(self) -> Self {
        if self > 20.0 {
            self
        } else {
            self.exp().ln_1p()
        }
    }
}

fn tensor<T: Real>(data: Vec<T>, shape: Vec<usize>) -> FlexTensor {
    FlexTensor::from_data(TensorData::new(data, shape))
}

/// σ(x) with std's exp, for the output gate (Δ's softplus derivative takes
/// [`HostReal::sigmoid`]).
fn sigmoid<T: Real>(x: T) -> T {
    T::one() / (T::one() + (-x).exp())
}

/// Host copies of the inputs in the layout the kernels read.
struct Problem<T> {
    batch: usize,
    dim: usize,
    len: usize,
    n: usize,
    groups: usize,
    u: Vec<T>,
    delta: Vec<T>,
    a: Vec<T>,
    /// B as (batch, G, L, N).
    b: Vec<T>,
    /// C as (batch, G, L, N).
    c: Vec<T>,
    d: Option<Vec<T>>,
    z: Option<Vec<T>>,
    bias: Option<Vec<T>>,
    init: Option<Vec<T>>,
    args: ScanArgs,
}

/// (batch, G, N, L) → (batch, G, L, N), and back with the dims swapped.
fn swap_last<T: Real>(x: &[T], outer: usize, rows: usize, cols: usize) -> Vec<T> {
    let mut out = vec![T::zero(); x.len()];
    for o in 0..outer {
        let base = o * rows * cols;
        for r in 0..rows {
            for c in 0..cols {
                out[base + c * rows + r] = x[base + r * cols + c];
            }
        }
    }
    out
}

impl<T: Real> Problem<T> {
    fn new(t: &ScanTensors<FlexTensor>, args: &ScanArgs) -> Self {
        let u_shape = t.u.shape();
        let (batch, dim, len) = (u_shape[0], u_shape[1], u_shape[2]);
        let b_shape = t.b.shape();
        let (groups, n) = (b_shape[1], b_shape[2]);
        Self {
            batch,
            dim,
            len,
            n,
            groups,
            u: values(&t.u),
            delta: values(&t.delta),
            a: values(&t.a),
            b: swap_last(&values(&t.b), batch * groups, n, len),
            c: swap_last(&values(&t.c), batch * groups, n, len),
            d: args.has_d.then(|| values(&t.d)),
            z: args.has_z.then(|| values(&t.z)),
            bias: args.has_delta_bias.then(|| values(&t.delta_bias)),
            init: args.has_initial_state.then(|| values(&t.initial_state)),
            args: args.clone(),
        }
    }

    fn group(&self, d: usize) -> usize {
        d * self.groups / self.dim
    }

    /// Δ of row (b, d) at every step (L) and, when `with_grad`,
    /// ∂Δ/∂(δ + δ_bias) (L; empty otherwise): one pass over the row, which
    /// vectorises in f32.
    fn step_sizes(&self, row: usize, d: usize, with_grad: bool) -> (Vec<T>, Vec<T>) {
        let bias = self.bias.as_ref().map_or(T::zero(), |bias| bias[d]);
        let raw = self.delta[row * self.len..(row + 1) * self.len]
            .iter()
            .map(move |&r| r + bias);
        let softplus = self.args.delta_softplus;
        let dt = if softplus {
            raw.clone().map(T::fast_softplus).collect()
        } else {
            raw.clone().collect()
        };
        let grad = match (with_grad, softplus) {
            (false, _) => Vec::new(),
            (true, true) => raw.map(T::sigmoid).collect(),
            (true, false) => vec![T::one(); self.len],
        };
        (dt, grad)
    }

    /// y_t + D u_t, gated by silu(z_t), for row (b, d) at t.
    fn output(&self, row: usize, d: usize, t: usize, y: T) -> T {
        let u = self.u[row * self.len + t];
        let mut y = y;
        if let Some(dd) = &self.d {
            y += dd[d] * u;
        }
        if let Some(z) = &self.z {
            y *= silu(z[row * self.len + t]);
        }
        y
    }

    fn resets(&self, b: usize, t: usize) -> bool {
        self.args.starts.as_ref().is_some_and(|s| s.resets_at(b, t))
    }

    /// Offset of (b, g, t, ·) in the transposed B and C.
    fn bc_at(&self, b: usize, g: usize, t: usize) -> usize {
        ((b * self.groups + g) * self.len + t) * self.n
    }

    /// exp(Δ A[d, ·]) into `decay` (a separate loop, so it vectorises).
    fn decays(&self, d: usize, dt: T, decay: &mut [T]) {
        let a = &self.a[d * self.n..(d + 1) * self.n];
        for (e, &ai) in decay.iter_mut().zip(a) {
            *e = (dt * ai).exponential();
        }
    }

    /// One step x ← exp(ΔA) ⊙ x + Δ u B_t for row (b, d), leaving
    /// exp(ΔA) (dstate) in `decay`.
    fn advance(&self, b: usize, d: usize, t: usize, dt: T, x: &mut [T], decay: &mut [T]) {
        let row = b * self.dim + d;
        let u = self.u[row * self.len + t];
        let at = self.bc_at(b, self.group(d), t);
        let bt = &self.b[at..at + self.n];
        self.decays(d, dt, decay);
        let du = dt * u;
        for ((x, &e), &bi) in x.iter_mut().zip(decay.iter()).zip(bt) {
            *x = e * *x + du * bi;
        }
    }

    /// [`Self::advance`], returning C_t · x. `decay` is scratch of length
    /// dstate.
    fn step(&self, b: usize, d: usize, t: usize, dt: T, x: &mut [T], decay: &mut [T]) -> T {
        self.advance(b, d, t, dt, x, decay);
        let at = self.bc_at(b, self.group(d), t);
        let ct = &self.c[at..at + self.n];
        ct.iter()
            .zip(x.iter())
            .fold(T::zero(), |y, (&c, &x)| y + c * x)
    }

    fn initial_state(&self, row: usize, x: &mut [T]) {
        match &self.init {
            Some(init) => x.copy_from_slice(&init[row * self.n..(row + 1) * self.n]),
            None => x.iter_mut().for_each(|v| *v = T::zero()),
        }
    }
}

fn silu<T: Real>(z: T) -> T {
    z * sigmoid(z)
}

fn forward<T: Real>(t: &ScanTensors<FlexTensor>, args: &ScanArgs) -> (FlexTensor, FlexTensor) {
    let p = Problem::<T>::new(t, args);
    let (len, n) = (p.len, p.n);
    let mut out = vec![T::zero(); p.batch * p.dim * len];
    let mut last = vec![T::zero(); p.batch * p.dim * n];
    out.par_chunks_mut(len.max(1))
        .zip(last.par_chunks_mut(n.max(1)))
        .enumerate()
        .for_each(|(row, (out, x))| T::scan_row(&p, row, out, x));
    (
        tensor(out, vec![p.batch, p.dim, len]),
        tensor(last, vec![p.batch, p.dim, n]),
    )
}

/// The forward recurrence of one row, any float type.
fn scan_row<T: Real>(p: &Problem<T>, row: usize, out: &mut [T], x: &mut [T]) {
    let (b, d) = (row / p.dim, row % p.dim);
    p.initial_state(row, x);
    let mut decay = vec![T::zero(); p.n];
    let (dts, _) = p.step_sizes(row, d, false);
    for (t, out) in out.iter_mut().enumerate() {
        if p.resets(b, t) {
            x.iter_mut().for_each(|v| *v = T::zero());
        }
        let dt = dts[t];
        let y = p.step(b, d, t, dt, x, &mut decay);
        *out = p.output(row, d, t, y);
    }
}

/// [`scan_row`] in f32 with AVX2 and FMA, eight states per instruction
/// (N a multiple of 8).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
fn scan_row_avx2(p: &Problem<f32>, row: usize, out: &mut [f32], x: &mut [f32]) {
    use crate::ops::support::fast_math::avx2::exp;
    use std::arch::x86_64::*;
    let n = p.n;
    assert!(n.is_multiple_of(8) && x.len() == n);
    let (b, d) = (row / p.dim, row % p.dim);
    let g = p.group(d);
    let a = &p.a[d * n..(d + 1) * n];
    p.initial_state(row, x);
    let (dts, _) = p.step_sizes(row, d, false);
    for (t, out) in out.iter_mut().enumerate() {
        if p.resets(b, t) {
            x.iter_mut().for_each(|v| *v = 0.0);
        }
        let dt = dts[t];
        let u = p.u[row * p.len + t];
        let at = p.bc_at(b, g, t);
        let (bt, ct) = (&p.b[at..at + n], &p.c[at..at + n]);
        let (dt_v, du_v) = (_mm256_set1_ps(dt), _mm256_set1_ps(dt * u));
        let mut acc = _mm256_setzero_ps();
        for s in (0..n).step_by(8) {
            // SAFETY: s + 8 ≤ n, the length of x, a, bt and ct.
            unsafe {
                let decay = exp(_mm256_mul_ps(dt_v, _mm256_loadu_ps(a.as_ptr().add(s))));
                let input = _mm256_mul_ps(du_v, _mm256_loadu_ps(bt.as_ptr().add(s)));
                let state = _mm256_fmadd_ps(decay, _mm256_loadu_ps(x.as_ptr().add(s)), input);
                _mm256_storeu_ps(x.as_mut_ptr().add(s), state);
                acc = _mm256_fmadd_ps(_mm256_loadu_ps(ct.as_ptr().add(s)), state, acc);
            }
        }
        let mut lanes = [0.0f32; 8];
        // SAFETY: `lanes` holds 8 values.
        unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), acc) };
        *out = p.output(row, d, t, lanes.iter().sum());
    }
}

/// Gradients that sum over rows, accumulated per worker thread.
struct Shared<T> {
    a: Vec<T>,
    d: Vec<T>,
    bias: Vec<T>,
    /// (batch, G, L, N), like the transposed B.
    b: Vec<T>,
    c: Vec<T>,
}

impl<T: Real> Shared<T> {
    fn zeros(p: &Problem<T>) -> Self {
        Self {
            a: vec![T::zero(); p.dim * p.n],
            d: vec![T::zero(); p.dim],
            bias: vec![T::zero(); p.dim],
            b: vec![T::zero(); p.b.len()],
            c: vec![T::zero(); p.c.len()],
        }
    }

    fn add(mut self, other: Self) -> Self {
        for (x, y) in [
            (&mut self.a, &other.a),
            (&mut self.d, &other.d),
            (&mut self.bias, &other.bias),
            (&mut self.b, &other.b),
            (&mut self.c, &other.c),
        ] {
            x.iter_mut().zip(y).for_each(|(x, y)| *x += *y);
        }
        self
    }
}

fn backward<T: Real>(
    t: &ScanTensors<FlexTensor>,
    grad_out: &FlexTensor,
    grad_last: &FlexTensor,
    args: &ScanArgs,
) -> ScanGrads<FlexTensor> {
    let p = Problem::<T>::new(t, args);
    let g_out: Vec<T> = values(grad_out);
    let g_last: Vec<T> = values(grad_last);
    let (batch, dim, len, n) = (p.batch, p.dim, p.len, p.n);
    let mut du = vec![T::zero(); batch * dim * len];
    let mut ddelta = vec![T::zero(); batch * dim * len];
    let mut dz = vec![T::zero(); batch * dim * len];
    let mut dinit = vec![T::zero(); batch * dim * n];
    let chunks = len.div_ceil(CHUNK).max(1);

    let rows = du
        .par_chunks_mut(len.max(1))
        .zip(ddelta.par_chunks_mut(len.max(1)))
        .zip(dz.par_chunks_mut(len.max(1)))
        .zip(dinit.par_chunks_mut(n.max(1)))
        .enumerate();
    let shared = fold_in_parts(
        rows,
        || Shared::zeros(&p),
        |mut acc, (row, (((du, ddelta), dz), dinit))| {
            let (b, d) = (row / dim, row % dim);
            let g = p.group(d);
            let a = &p.a[d * n..(d + 1) * n];
            let (dts, dt_grads) = p.step_sizes(row, d, true);
            // Pass 1: the state entering each chunk.
            let mut checkpoints = vec![T::zero(); chunks * n];
            let mut x = vec![T::zero(); n];
            let mut decay = vec![T::zero(); n];
            p.initial_state(row, &mut x);
            for (t, &dt) in dts.iter().enumerate() {
                if t % CHUNK == 0 {
                    let c = t / CHUNK;
                    checkpoints[c * n..(c + 1) * n].copy_from_slice(&x);
                }
                if p.resets(b, t) {
                    x.iter_mut().for_each(|v| *v = T::zero());
                }
                p.advance(b, d, t, dt, &mut x, &mut decay);
            }
            // Pass 2: chunks in reverse, states recomputed from their checkpoint.
            let mut dx: Vec<T> = g_last[row * n..(row + 1) * n].to_vec();
            let mut states = vec![T::zero(); (CHUNK + 1) * n];
            // decays[k] = exp(Δ A) of step t0 + k, kept from the recompute.
            let mut decays = vec![T::zero(); CHUNK * n];
            for c in (0..chunks).rev() {
                let (t0, t1) = (c * CHUNK, ((c + 1) * CHUNK).min(len));
                // states[k] = state before step t0 + k (after resets), k = 0..=t1−t0.
                let mut x = checkpoints[c * n..(c + 1) * n].to_vec();
                for (t, &dt) in dts.iter().enumerate().take(t1).skip(t0) {
                    if p.resets(b, t) {
                        x.iter_mut().for_each(|v| *v = T::zero());
                    }
                    let k = t - t0;
                    states[k * n..(k + 1) * n].copy_from_slice(&x);
                    p.advance(b, d, t, dt, &mut x, &mut decays[k * n..(k + 1) * n]);
                    states[(k + 1) * n..(k + 2) * n].copy_from_slice(&x);
                }
                for t in (t0..t1).rev() {
                    let k = t - t0;
                    let (x_prev, x_now) = (
                        &states[k * n..(k + 1) * n],
                        &states[(k + 1) * n..(k + 2) * n],
                    );
                    let (dt, ddt_draw) = (dts[t], dt_grads[t]);
                    let u = p.u[row * len + t];
                    let at = p.bc_at(b, g, t);
                    let (bt, ct) = (&p.b[at..at + n], &p.c[at..at + n]);
                    // Output gate: out = y·silu(z).
                    let mut dy = g_out[row * len + t];
                    if let Some(z) = &p.z {
                        let zt = z[row * len + t];
                        let y: T = (0..n).map(|i| ct[i] * x_now[i]).sum::<T>()
                            + p.d.as_ref().map_or(T::zero(), |dd| dd[d] * u);
                        let s = sigmoid(zt);
                        dz[t] = dy * y * (s + zt * s * (T::one() - s));
                        dy = dy * zt * s;
                    }
                    let mut du_t = T::zero();
                    if let Some(dd) = &p.d {
                        acc.d[d] += dy * u;
                        du_t = dy * dd[d];
                    }
                    let mut ddt = T::zero();
                    let decay = &decays[k * n..(k + 1) * n];
                    for i in 0..n {
                        let dxi = dx[i] + dy * ct[i];
                        acc.c[at + i] += dy * x_now[i];
                        let decay = decay[i];
                        let carried = decay * x_prev[i];
                        ddt += dxi * (a[i] * carried + bt[i] * u);
                        acc.a[d * n + i] += dxi * dt * carried;
                        acc.b[at + i] += dxi * dt * u;
                        du_t += dxi * dt * bt[i];
                        dx[i] = dxi * decay;
                    }
                    if p.resets(b, t) {
                        dx.iter_mut().for_each(|v| *v = T::zero());
                    }
                    du[t] = du_t;
                    let draw = ddt * ddt_draw;
                    ddelta[t] = draw;
                    acc.bias[d] += draw;
                }
            }
            dinit.copy_from_slice(&dx);
            acc
        },
        Shared::add,
    );

    let zeros1 = || tensor(vec![T::zero()], vec![1]);
    ScanGrads {
        u: tensor(du, vec![batch, dim, len]),
        delta: tensor(ddelta, vec![batch, dim, len]),
        a: tensor(shared.a, vec![dim, n]),
        b: tensor(
            swap_last(&shared.b, batch * p.groups, len, n),
            vec![batch, p.groups, n, len],
        ),
        c: tensor(
            swap_last(&shared.c, batch * p.groups, len, n),
            vec![batch, p.groups, n, len],
        ),
        d: if args.has_d {
            tensor(shared.d, vec![dim])
        } else {
            zeros1()
        },
        z: if args.has_z {
            tensor(dz, vec![batch, dim, len])
        } else {
            zeros1()
        },
        delta_bias: if args.has_delta_bias {
            tensor(shared.bias, vec![dim])
        } else {
            zeros1()
        },
        initial_state: if args.has_initial_state {
            tensor(dinit, vec![batch, dim, n])
        } else {
            zeros1()
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::selective_scan::SequenceStarts;
    use std::sync::Arc;

    fn filled(shape: Vec<usize>, k: f32, offset: f32) -> FlexTensor {
        let len = shape.iter().product::<usize>();
        let data = (0..len)
            .map(|i| ((i as f32 + 1.0) * k).sin() + offset)
            .collect::<Vec<f32>>();
        tensor(data, shape)
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn vector_row_scan_equals_the_generic_one() {
        if !(std::arch::is_x86_feature_detected!("avx2")
            && std::arch::is_x86_feature_detected!("fma"))
        {
            return;
        }
        let (batch, dim, n, groups, len) = (1, 6, 16, 2, 37);
        let inputs = ScanTensors {
            u: filled(vec![batch, dim, len], 0.31, 0.0),
            delta: filled(vec![batch, dim, len], 0.17, -1.0),
            a: filled(vec![dim, n], 0.05, -1.5),
            b: filled(vec![batch, groups, n, len], 0.23, 0.0),
            c: filled(vec![batch, groups, n, len], 0.41, 0.0),
            d: filled(vec![dim], 0.7, 0.0),
            z: filled(vec![batch, dim, len], 0.13, 0.0),
            delta_bias: filled(vec![dim], 0.9, 0.0),
            initial_state: filled(vec![batch, dim, n], 0.07, 0.0),
        };
        let args = ScanArgs {
            has_d: true,
            has_z: true,
            has_delta_bias: true,
            has_initial_state: true,
            delta_softplus: true,
            starts: Some(Arc::new(
                SequenceStarts::from_cu_seqlens(&[0, 20, len], len).unwrap(),
            )),
        };
        let p = Problem::<f32>::new(&inputs, &args);
        for row in 0..batch * dim {
            let (mut out1, mut out2) = (vec![0.0; len], vec![0.0; len]);
            let (mut x1, mut x2) = (vec![0.0; n], vec![0.0; n]);
            scan_row(&p, row, &mut out1, &mut x1);
            // SAFETY: the features were detected above.
            unsafe { scan_row_avx2(&p, row, &mut out2, &mut x2) };
            for (a, b) in out1.iter().zip(&out2).chain(x1.iter().zip(&x2)) {
                assert!(
                    (a - b).abs() <= 1e-5 * (1.0 + a.abs()),
                    "row {row}: {a} vs {b}"
                );
            }
        }
    }
}
