//! The fused CPU kernel: per channel (in parallel) and node, the Cauchy sums
//! over the conjugate-expanded modes, the rank-r Woodbury solve, and for the
//! backward the factorised per-mode gradients.
//!
//! Backward. With α_j = Σ_i (M⁻¹)_{ji} k_{B,Q_i} and β_{c,i} =
//! Σ_j k_{P_j,C_c} (M⁻¹)_{ji}, the holomorphic differential of K̂_c is
//! Σ_ab (∂K̂_c/∂k_ab) dk_ab with coefficients 1 (B,C_c), −α_j (P_j,C_c),
//! −β_{c,i} (B,Q_i), β_{c,i}α_j (P_j,Q_i); per expanded mode m they sum to
//! U_m·V_cm with U_m = B_m − Σ_j α_j P_jm and V_cm = C_cm − Σ_i β_{c,i} Q_im.
//! So, with x_m = 1/(s − Δλ_m):
//!   ∂K̂_c/∂B_m = Δx_m V_cm,  ∂K̂_c/∂C_cm = Δx_m U_m,  ∂K̂_c/∂λ_m = Δ²x_m² U_m V_cm,
//!   ∂K̂_c/∂P_jm = −Δx_m α_j V_cm (as a row),  ∂K̂_c/∂Q_im = −Δx_m β_{c,i} U_m,
//!   ∂K̂_c/∂Δ = s Σ_m x_m² U_m V_cm.
//! A stored value θ sits at mode n and its conjugate at n̄ (Q_n = P̄_n,
//! Q_n̄ = P_n), so its gradient (∂L/∂Re θ + i ∂L/∂Im θ) is
//! Σ_{c,k} G·conj(∂K̂/∂θ) + conj(G)·∂K̂/∂θ̄ for G = ∂L/∂Re K̂ + i ∂L/∂Im K̂;
//! Δ, real, gets Σ Re(conj(G)·∂K̂/∂Δ).

use burn::tensor::{DType, TensorData, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use num_complex::{Complex, Complex64};
use rayon::prelude::*;

use super::{DplrSpectrumInputs, DplrSpectrumOps};
use crate::ops::support::flex_values::{HostReal, complex_values, values};

impl DplrSpectrumOps for Flex {
    fn dplr_spectrum(inputs: DplrSpectrumInputs<FlexTensor>, nodes: &[Complex64]) -> FlexTensor {
        match inputs.dt.dtype() {
            DType::F64 => Systems::<f64>::new(&inputs, nodes).forward(),
            _ => Systems::<f32>::new(&inputs, nodes).forward(),
        }
    }

    fn dplr_spectrum_backward(
        inputs: DplrSpectrumInputs<FlexTensor>,
        nodes: &[Complex64],
        grad: FlexTensor,
    ) -> DplrSpectrumInputs<FlexTensor> {
        match inputs.dt.dtype() {
            DType::F64 => Systems::<f64>::new(&inputs, nodes).backward(&grad),
            _ => Systems::<f32>::new(&inputs, nodes).backward(&grad),
        }
    }
}

type C<T> = Complex<T>;

/// The H systems on the host, each over its 2N expanded modes.
struct Systems<T> {
    h: usize,
    n: usize,
    rank: usize,
    channels: usize,
    dt: Vec<T>,
    lambda: Vec<C<T>>,
    b: Vec<C<T>>,
    p: Vec<C<T>>,
    c: Vec<C<T>>,
    nodes: Vec<C<T>>,
}

/// One channel's expanded system: mode m < N is stored mode m, mode N + m
/// its conjugate.
struct Channel<T> {
    dt: T,
    /// Δλ_m, (2N).
    w: Vec<C<T>>,
    /// B_m, (2N).
    b: Vec<C<T>>,
    /// P_jm, (r, 2N).
    p: Vec<Vec<C<T>>>,
    /// Q_im = conj(P_im) over the expanded modes, (r, 2N).
    q: Vec<Vec<C<T>>>,
    /// C̃_cm, (Cc, 2N).
    c: Vec<Vec<C<T>>>,
    /// The node-independent products of the Cauchy sums' pairs, each (2N):
    /// B_m·Q_im (r), P_jm·Q_im (r·r, at i·r + j), P_jm·C̃_cm (Cc·r, at
    /// c·r + j) and B_m·C̃_cm (Cc). A sum Δ Σ_m a_m b_m x_m evaluates
    /// (a_m·b_m)·x_m, so taking the pair's product from here gives the
    /// same bits as forming it at every node.
    pairs: Pairs<T>,
}

/// See [`Channel::pairs`].
struct Pairs<T> {
    bq: Vec<Vec<C<T>>>,
    pq: Vec<Vec<C<T>>>,
    pc: Vec<Vec<C<T>>>,
    bc: Vec<Vec<C<T>>>,
}

impl<T: HostReal> Pairs<T> {
    fn new(b: &[C<T>], p: &[Vec<C<T>>], q: &[Vec<C<T>>], c: &[Vec<C<T>>]) -> Self {
        let product = |a: &[C<T>], b: &[C<T>]| a.iter().zip(b).map(|(a, b)| *a * *b).collect();
        Self {
            bq: q.iter().map(|q| product(b, q)).collect(),
            pq: q
                .iter()
                .flat_map(|q| p.iter().map(move |p| product(p, q)))
                .collect(),
            pc: c
                .iter()
                .flat_map(|c| p.iter().map(move |p| product(p, c)))
                .collect(),
            bc: c.iter().map(|c| product(b, c)).collect(),
        }
    }
}

/// The largest rank r of a DPLR system.
const MAX_RANK: usize = 2;

/// The Woodbury quantities of one channel at one node, in buffers a
/// channel's task allocates once and every node overwrites.
struct Solve<T> {
    /// x_m = 1/(s − Δλ_m), (2N).
    x: Vec<C<T>>,
    /// α_j, (r; slots past r unused).
    alpha: [C<T>; MAX_RANK],
    /// β_{c,i}, (Cc, r).
    beta: Vec<[C<T>; MAX_RANK]>,
    /// K̂_c, (Cc).
    spectrum: Vec<C<T>>,
}

impl<T: HostReal> Solve<T> {
    /// Buffers for `modes` expanded modes and `channels` outputs.
    fn new(modes: usize, channels: usize) -> Self {
        let zero = C::new(T::zero(), T::zero());
        Self {
            x: vec![zero; modes],
            alpha: [zero; MAX_RANK],
            beta: vec![[zero; MAX_RANK]; channels],
            spectrum: vec![zero; channels],
        }
    }
}

fn expand<T: HostReal>(x: &[C<T>]) -> Vec<C<T>> {
    x.iter()
        .copied()
        .chain(x.iter().map(|z| z.conj()))
        .collect()
}

impl<T: HostReal> Channel<T> {
    /// Δ Σ_m ab_m x_m for a pair's product ab (see [`Channel::pairs`]).
    fn sum(&self, ab: &[C<T>], x: &[C<T>]) -> C<T> {
        let mut acc = C::new(T::zero(), T::zero());
        for (ab, x) in ab.iter().zip(x) {
            acc += *ab * *x;
        }
        acc * self.dt
    }

    /// The Woodbury solve at node `s` into `out` (sized by [`Solve::new`]
    /// for this channel).
    fn solve(&self, s: C<T>, out: &mut Solve<T>) {
        let zero = C::new(T::zero(), T::zero());
        let one = C::new(T::one(), T::zero());
        for (x, w) in out.x.iter_mut().zip(&self.w) {
            *x = (s - *w).inv();
        }
        let x = &out.x;
        let rank = self.p.len();
        let pairs = &self.pairs;
        let mut k_bq = [zero; MAX_RANK];
        for (k, bq) in k_bq.iter_mut().zip(&pairs.bq) {
            *k = self.sum(bq, x);
        }
        // M_{ij} = δ_ij + k_{P_j, Q_i}, inverted in closed form (r ≤ 2).
        let m = |i: usize, j: usize| {
            let k = self.sum(&pairs.pq[i * rank + j], x);
            if i == j { one + k } else { k }
        };
        let inv: [[C<T>; MAX_RANK]; MAX_RANK] = match rank {
            1 => [[m(0, 0).inv(), zero], [zero, zero]],
            _ => {
                let (m00, m01, m10, m11) = (m(0, 0), m(0, 1), m(1, 0), m(1, 1));
                let det = (m00 * m11 - m01 * m10).inv();
                [[m11 * det, -m01 * det], [-m10 * det, m00 * det]]
            }
        };
        for (alpha, inv_j) in out.alpha.iter_mut().zip(&inv).take(rank) {
            *alpha = (0..rank).map(|i| inv_j[i] * k_bq[i]).sum();
        }
        let alpha = out.alpha;
        let outputs = out.beta.iter_mut().zip(&mut out.spectrum).enumerate();
        for (c, (beta, spectrum)) in outputs {
            let mut k_pc = [zero; MAX_RANK];
            for (j, k) in k_pc.iter_mut().enumerate().take(rank) {
                *k = self.sum(&pairs.pc[c * rank + j], x);
            }
            let k_bc = self.sum(&pairs.bc[c], x);
            for (i, b) in beta.iter_mut().enumerate().take(rank) {
                *b = (0..rank).map(|j| k_pc[j] * inv[j][i]).sum();
            }
            *spectrum = k_bc - (0..rank).map(|j| k_pc[j] * alpha[j]).sum::<C<T>>();
        }
    }
}

/// Per-channel gradients, over the stored modes.
struct ChannelGrads<T> {
    dt: T,
    lambda: Vec<C<T>>,
    b: Vec<C<T>>,
    p: Vec<Vec<C<T>>>,
    c: Vec<Vec<C<T>>>,
}

impl<T: HostReal> Systems<T> {
    fn new(i: &DplrSpectrumInputs<FlexTensor>, nodes: &[Complex64]) -> Self {
        let [rank, h, n] = i.p_re.shape().dims();
        let channels = i.c_re.shape().dims::<3>()[0];
        let cast = |x: f64| T::from(x).expect("representable");
        Self {
            h,
            n,
            rank,
            channels,
            dt: values(&i.dt),
            lambda: complex_values(&i.lambda_re, &i.lambda_im),
            b: complex_values(&i.b_re, &i.b_im),
            p: complex_values(&i.p_re, &i.p_im),
            c: complex_values(&i.c_re, &i.c_im),
            nodes: nodes
                .iter()
                .map(|s| C::new(cast(s.re), cast(s.im)))
                .collect(),
        }
    }

    fn channel(&self, hi: usize) -> Channel<T> {
        let (h, n) = (self.h, self.n);
        let row = |v: &[C<T>], r: usize| v[(r * h + hi) * n..(r * h + hi + 1) * n].to_vec();
        let dt = self.dt[hi];
        let p: Vec<Vec<C<T>>> = (0..self.rank).map(|r| expand(&row(&self.p, r))).collect();
        let q: Vec<Vec<C<T>>> = p
            .iter()
            .map(|p| p.iter().map(|z| z.conj()).collect())
            .collect();
        let b = expand(&row(&self.b, 0));
        let c: Vec<Vec<C<T>>> = (0..self.channels)
            .map(|c| expand(&row(&self.c, c)))
            .collect();
        Channel {
            dt,
            w: expand(&row(&self.lambda, 0))
                .into_iter()
                .map(|l| l * dt)
                .collect(),
            pairs: Pairs::new(&b, &p, &q, &c),
            b,
            p,
            q,
            c,
        }
    }

    fn forward(&self) -> FlexTensor {
        let count = self.nodes.len();
        let per_h: Vec<Vec<C<T>>> = (0..self.h)
            .into_par_iter()
            .map(|hi| {
                let channel = self.channel(hi);
                let mut solve = Solve::new(channel.w.len(), self.channels);
                let mut out = vec![C::new(T::zero(), T::zero()); self.channels * count];
                for (k, &s) in self.nodes.iter().enumerate() {
                    channel.solve(s, &mut solve);
                    for (c, &value) in solve.spectrum.iter().enumerate() {
                        out[c * count + k] = value;
                    }
                }
                out
            })
            .collect();
        let y: Vec<C<T>> = per_h.concat();
        let data: Vec<T> = y
            .iter()
            .map(|z| z.re)
            .chain(y.iter().map(|z| z.im))
            .collect();
        FlexTensor::from_data(TensorData::new(data, [2, self.h, self.channels, count]))
    }

    fn backward(&self, grad: &FlexTensor) -> DplrSpectrumInputs<FlexTensor> {
        let count = self.nodes.len();
        let g = values::<T>(grad);
        let half = self.h * self.channels * count;
        let (n, rank, channels) = (self.n, self.rank, self.channels);
        let zero = C::new(T::zero(), T::zero());
        let per_h: Vec<ChannelGrads<T>> = (0..self.h)
            .into_par_iter()
            .map(|hi| {
                let ch = self.channel(hi);
                let dt = ch.dt;
                let mut out = ChannelGrads {
                    dt: T::zero(),
                    lambda: vec![zero; n],
                    b: vec![zero; n],
                    p: vec![vec![zero; n]; rank],
                    c: vec![vec![zero; n]; channels],
                };
                let mut solve = Solve::new(2 * n, channels);
                // Per node (2N each): U_m, x_m·U_m and x_m²·U_m; per node
                // and channel: V_cm and x_m²·U_m·V_cm. Each product is
                // formed in the order the formulas read ((x·x)·U)·V, so
                // sharing it keeps the bits.
                let mut u = vec![zero; 2 * n];
                let mut xu = vec![zero; 2 * n];
                let mut xxu = vec![zero; 2 * n];
                let mut v = vec![zero; 2 * n];
                let mut xxuv = vec![zero; 2 * n];
                for (k, &s) in self.nodes.iter().enumerate() {
                    ch.solve(s, &mut solve);
                    let x = &solve.x;
                    for m in 0..2 * n {
                        u[m] =
                            ch.b[m] - (0..rank).map(|j| solve.alpha[j] * ch.p[j][m]).sum::<C<T>>();
                        xu[m] = x[m] * u[m];
                        xxu[m] = x[m] * x[m] * u[m];
                    }
                    for c in 0..channels {
                        let at = (hi * channels + c) * count + k;
                        let gk = C::new(g[at], g[half + at]);
                        let gc = gk.conj();
                        let beta = &solve.beta[c];
                        let mut d_dt = zero;
                        for m in 0..2 * n {
                            v[m] =
                                ch.c[c][m] - (0..rank).map(|i| beta[i] * ch.q[i][m]).sum::<C<T>>();
                            xxuv[m] = xxu[m] * v[m];
                            d_dt += xxuv[m];
                        }
                        out.dt += (gc * s * d_dt).re;
                        // Stored mode n0 and its conjugate n1 = N + n0. The
                        // factors Δ (B, C̃), Δ² (λ) and −Δ (P) of every
                        // term are applied once per channel, after the
                        // sums (the fold is real-linear in its arguments).
                        for n0 in 0..n {
                            let n1 = n + n0;
                            let fold = |holo: C<T>, anti: C<T>| gk * holo.conj() + gc * anti;
                            let (xv0, xv1) = (x[n0] * v[n0], x[n1] * v[n1]);
                            out.b[n0] += fold(xv0, xv1);
                            out.c[c][n0] += fold(xu[n0], xu[n1]);
                            out.lambda[n0] += fold(xxuv[n0], xxuv[n1]);
                            let rows = out.p.iter_mut().zip(&solve.alpha).zip(beta.iter());
                            for ((p_j, &alpha_j), &beta_j) in rows.take(rank) {
                                // P_j as a row at n0 (holo) and n1 (anti); as
                                // the column Q_j = P̄_j at n1 (holo) and n0 (anti).
                                let holo = xv0 * alpha_j + x[n1] * beta_j * u[n1];
                                let anti = xv1 * alpha_j + x[n0] * beta_j * u[n0];
                                p_j[n0] += fold(holo, anti);
                            }
                        }
                    }
                }
                let scale = |row: &mut [C<T>], f: T| row.iter_mut().for_each(|z| *z *= f);
                scale(&mut out.b, dt);
                scale(&mut out.lambda, dt * dt);
                out.c.iter_mut().for_each(|row| scale(row, dt));
                out.p.iter_mut().for_each(|row| scale(row, -dt));
                out
            })
            .collect();
        self.to_tensors(per_h)
    }

    /// Gathers per-channel gradients into the inputs' layouts.
    fn to_tensors(&self, per_h: Vec<ChannelGrads<T>>) -> DplrSpectrumInputs<FlexTensor> {
        let (h, n) = (self.h, self.n);
        let mut lambda = vec![C::new(T::zero(), T::zero()); h * n];
        let mut b = lambda.clone();
        let mut p = vec![C::new(T::zero(), T::zero()); self.rank * h * n];
        let mut c = vec![C::new(T::zero(), T::zero()); self.channels * h * n];
        let mut dt = vec![T::zero(); h];
        for (hi, grads) in per_h.into_iter().enumerate() {
            dt[hi] = grads.dt;
            lambda[hi * n..(hi + 1) * n].copy_from_slice(&grads.lambda);
            b[hi * n..(hi + 1) * n].copy_from_slice(&grads.b);
            for (r, row) in grads.p.iter().enumerate() {
                p[(r * h + hi) * n..(r * h + hi + 1) * n].copy_from_slice(row);
            }
            for (ci, row) in grads.c.iter().enumerate() {
                c[(ci * h + hi) * n..(ci * h + hi + 1) * n].copy_from_slice(row);
            }
        }
        let parts = |v: &[C<T>], shape: Vec<usize>| {
            let re: Vec<T> = v.iter().map(|z| z.re).collect();
            let im: Vec<T> = v.iter().map(|z| z.im).collect();
            (
                FlexTensor::from_data(TensorData::new(re, shape.clone())),
                FlexTensor::from_data(TensorData::new(im, shape)),
            )
        };
        let (lambda_re, lambda_im) = parts(&lambda, vec![h, n]);
        let (b_re, b_im) = parts(&b, vec![h, n]);
        let (p_re, p_im) = parts(&p, vec![self.rank, h, n]);
        let (c_re, c_im) = parts(&c, vec![self.channels, h, n]);
        DplrSpectrumInputs {
            dt: FlexTensor::from_data(TensorData::new(dt, vec![h])),
            lambda_re,
            lambda_im,
            b_re,
            b_im,
            p_re,
            p_im,
            c_re,
            c_im,
        }
    }
}
