//! The CubeCL kernels of the DPLR generating function, in f64: one unit per
//! (channel h, node k) for the Cauchy sums and the Woodbury solve (the
//! spectrum forward; α, β and ∂Δ's term of each node backward), one unit
//! per (h, stored mode n) for the gradients of the per-mode inputs, summed
//! over the nodes in the unit. Transcriptions of `cpu.rs`, whose doc
//! derives the backward. Every tensor packed; a node tensor is (S, 2), real
//! parts then imaginary ones per node; the spectrum and its gradient are
//! (2, H, Cc, S), real parts first. The rank r ∈ {1, 2} and the channel
//! count Cc are compile-time constants (one build each).

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

/// A complex number in f64.
#[derive(CubeType, Clone, Copy)]
struct Cd {
    re: f64,
    im: f64,
}

#[cube]
impl Cd {
    fn new(re: f64, im: f64) -> Cd {
        Cd { re, im }
    }

    fn plus(self, o: Cd) -> Cd {
        Cd::new(self.re + o.re, self.im + o.im)
    }

    fn minus(self, o: Cd) -> Cd {
        Cd::new(self.re - o.re, self.im - o.im)
    }

    fn times(self, o: Cd) -> Cd {
        Cd::new(
            self.re * o.re - self.im * o.im,
            self.re * o.im + self.im * o.re,
        )
    }

    fn scale(self, s: f64) -> Cd {
        Cd::new(self.re * s, self.im * s)
    }

    fn conj(self) -> Cd {
        Cd::new(self.re, -self.im)
    }

    fn inv(self) -> Cd {
        let norm = self.re * self.re + self.im * self.im;
        Cd::new(self.re / norm, -self.im / norm)
    }
}

/// The nine inputs of the generating function, packed f64: Δ (H), λ and
/// B (H, N), P (r, H, N) and C̃ (Cc, H, N), each complex one as its real
/// and imaginary parts. One launch argument in place of nine.
#[derive(CubeLaunch, CubeType)]
pub struct DplrParams {
    pub dt: Tensor<f64>,
    pub lambda_re: Tensor<f64>,
    pub lambda_im: Tensor<f64>,
    pub b_re: Tensor<f64>,
    pub b_im: Tensor<f64>,
    pub p_re: Tensor<f64>,
    pub p_im: Tensor<f64>,
    pub c_re: Tensor<f64>,
    pub c_im: Tensor<f64>,
}

/// The gradients of λ, B (H, N), P (r, H, N) and C̃ (Cc, H, N), packed
/// f64, real and imaginary parts apart ([`dplr_spectrum_mode_grads`]).
#[derive(CubeLaunch, CubeType)]
pub struct ModeGrads {
    pub lambda_re: Tensor<f64>,
    pub lambda_im: Tensor<f64>,
    pub b_re: Tensor<f64>,
    pub b_im: Tensor<f64>,
    pub p_re: Tensor<f64>,
    pub p_im: Tensor<f64>,
    pub c_re: Tensor<f64>,
    pub c_im: Tensor<f64>,
}

/// The Woodbury solve of every (h, k), packed f64: α (H, S, r) and β
/// (H, S, Cc, r), real and imaginary parts apart. Written by
/// [`dplr_spectrum_node_terms`], read by [`dplr_spectrum_mode_grads`].
#[derive(CubeLaunch, CubeType)]
pub struct WoodburyTerms {
    pub alpha_re: Tensor<f64>,
    pub alpha_im: Tensor<f64>,
    pub beta_re: Tensor<f64>,
    pub beta_im: Tensor<f64>,
}

/// Entry `i` of a complex tensor held as (re, im), conjugated when `sign`
/// is −1 (the expanded mode N + n of stored mode n).
#[cube]
fn entry(re: &Tensor<f64>, im: &Tensor<f64>, i: usize, sign: f64) -> Cd {
    Cd::new(re[i], sign * im[i])
}

#[cube]
impl DplrParams {
    /// λ at flat index `i` of (H, N), conjugated when `sign` is −1.
    fn lambda(&self, i: usize, sign: f64) -> Cd {
        entry(&self.lambda_re, &self.lambda_im, i, sign)
    }

    /// B at flat index `i` of (H, N), conjugated when `sign` is −1.
    fn b(&self, i: usize, sign: f64) -> Cd {
        entry(&self.b_re, &self.b_im, i, sign)
    }

    /// P at flat index `i` of (r, H, N), conjugated when `sign` is −1.
    fn p(&self, i: usize, sign: f64) -> Cd {
        entry(&self.p_re, &self.p_im, i, sign)
    }

    /// C̃ at flat index `i` of (Cc, H, N), conjugated when `sign` is −1.
    fn c(&self, i: usize, sign: f64) -> Cd {
        entry(&self.c_re, &self.c_im, i, sign)
    }
}

#[cube]
impl WoodburyTerms {
    /// α at flat index `i` of (H, S, r).
    fn alpha(&self, i: usize) -> Cd {
        Cd::new(self.alpha_re[i], self.alpha_im[i])
    }

    /// β at flat index `i` of (H, S, Cc, r).
    fn beta(&self, i: usize) -> Cd {
        Cd::new(self.beta_re[i], self.beta_im[i])
    }
}

/// Slot `i` of a complex array held as (re, im).
#[cube]
fn slot(re: &Array<f64>, im: &Array<f64>, i: usize) -> Cd {
    Cd::new(re[i], im[i])
}

/// Adds `z` to slot `i` of a complex array held as (re, im).
#[cube]
fn add_to(re: &mut Array<f64>, im: &mut Array<f64>, i: usize, z: Cd) {
    re[i] += z.re;
    im[i] += z.im;
}

/// Stores `z` in slot `i` of a complex array held as (re, im).
#[cube]
fn put(re: &mut Array<f64>, im: &mut Array<f64>, i: usize, z: Cd) {
    re[i] = z.re;
    im[i] = z.im;
}

/// Node `k` of a (S, 2) node tensor.
#[cube]
fn node(nodes: &Tensor<f64>, k: usize) -> Cd {
    Cd::new(nodes[2 * k], nodes[2 * k + 1])
}

/// The Woodbury solve of channel `h` at node `s` (`cpu.rs`'s
/// `Channel::solve`): fills α_j (r), β_{c,i} (Cc·r, at c·r + i) and K̂_c
/// (Cc). `modes` is N, the stored modes of each (H, N) input.
#[cube]
#[allow(clippy::too_many_arguments)]
fn woodbury(
    params: &DplrParams,
    h: usize,
    s: Cd,
    heads: usize,
    modes: usize,
    alpha_re: &mut Array<f64>,
    alpha_im: &mut Array<f64>,
    beta_re: &mut Array<f64>,
    beta_im: &mut Array<f64>,
    spec_re: &mut Array<f64>,
    spec_im: &mut Array<f64>,
    #[comptime] rank: usize,
    #[comptime] channels: usize,
) {
    let step = params.dt[h];
    // k_{B,Q_i} (r), k_{P_j,Q_i} (r·r, at i·r + j), k_{P_j,C_c} (Cc·r, at
    // c·r + j), k_{B,C_c} (Cc), each without its factor Δ.
    let mut bq_re = Array::<f64>::new(rank);
    let mut bq_im = Array::<f64>::new(rank);
    let mut pq_re = Array::<f64>::new(comptime![rank * rank]);
    let mut pq_im = Array::<f64>::new(comptime![rank * rank]);
    let mut pc_re = Array::<f64>::new(comptime![channels * rank]);
    let mut pc_im = Array::<f64>::new(comptime![channels * rank]);
    let mut bc_re = Array::<f64>::new(channels);
    let mut bc_im = Array::<f64>::new(channels);
    #[unroll]
    for i in 0..rank {
        bq_re[i] = 0.0;
        bq_im[i] = 0.0;
    }
    #[unroll]
    for i in 0..comptime![rank * rank] {
        pq_re[i] = 0.0;
        pq_im[i] = 0.0;
    }
    #[unroll]
    for i in 0..comptime![channels * rank] {
        pc_re[i] = 0.0;
        pc_im[i] = 0.0;
    }
    #[unroll]
    for c in 0..channels {
        bc_re[c] = 0.0;
        bc_im[c] = 0.0;
    }
    for n in 0..modes {
        let at = h * modes + n;
        // The stored mode (sign 1), then its conjugate (sign −1).
        for e in 0..2u32 {
            let sign = 1.0 - 2.0 * f64::cast_from(e);
            let x = s.minus(params.lambda(at, sign).scale(step)).inv();
            let bx = params.b(at, sign).times(x);
            #[unroll]
            for i in 0..rank {
                // Q_i = P̄_i over the expanded modes.
                let q = params.p(i * heads * modes + at, sign).conj();
                add_to(&mut bq_re, &mut bq_im, i, bx.times(q));
                let qx = q.times(x);
                #[unroll]
                for j in 0..rank {
                    let p = params.p(j * heads * modes + at, sign);
                    add_to(&mut pq_re, &mut pq_im, i * rank + j, p.times(qx));
                }
            }
            #[unroll]
            for c in 0..channels {
                let cc = params.c(c * heads * modes + at, sign);
                add_to(&mut bc_re, &mut bc_im, c, bx.times(cc));
                let cx = cc.times(x);
                #[unroll]
                for j in 0..rank {
                    let p = params.p(j * heads * modes + at, sign);
                    add_to(&mut pc_re, &mut pc_im, c * rank + j, p.times(cx));
                }
            }
        }
    }
    // M_ij = δ_ij + Δ·k_{P_j,Q_i}, inverted in closed form; inv at j·r + i.
    let mut inv_re = Array::<f64>::new(comptime![rank * rank]);
    let mut inv_im = Array::<f64>::new(comptime![rank * rank]);
    let one = Cd::new(1.0, 0.0);
    if comptime![rank == 1] {
        let m00 = one.plus(slot(&pq_re, &pq_im, 0).scale(step));
        put(&mut inv_re, &mut inv_im, 0, m00.inv());
    } else {
        let m00 = one.plus(slot(&pq_re, &pq_im, 0).scale(step));
        let m01 = slot(&pq_re, &pq_im, 1).scale(step);
        let m10 = slot(&pq_re, &pq_im, 2).scale(step);
        let m11 = one.plus(slot(&pq_re, &pq_im, 3).scale(step));
        let det = m00.times(m11).minus(m01.times(m10)).inv();
        put(&mut inv_re, &mut inv_im, 0, m11.times(det));
        put(&mut inv_re, &mut inv_im, 1, m01.times(det).scale(-1.0));
        put(&mut inv_re, &mut inv_im, 2, m10.times(det).scale(-1.0));
        put(&mut inv_re, &mut inv_im, 3, m00.times(det));
    }
    #[unroll]
    for j in 0..rank {
        alpha_re[j] = 0.0;
        alpha_im[j] = 0.0;
        #[unroll]
        for i in 0..rank {
            let k_bq = slot(&bq_re, &bq_im, i).scale(step);
            add_to(
                alpha_re,
                alpha_im,
                j,
                slot(&inv_re, &inv_im, j * rank + i).times(k_bq),
            );
        }
    }
    #[unroll]
    for c in 0..channels {
        #[unroll]
        for i in 0..rank {
            beta_re[c * rank + i] = 0.0;
            beta_im[c * rank + i] = 0.0;
            #[unroll]
            for j in 0..rank {
                let k_pc = slot(&pc_re, &pc_im, c * rank + j).scale(step);
                let term = k_pc.times(slot(&inv_re, &inv_im, j * rank + i));
                add_to(beta_re, beta_im, c * rank + i, term);
            }
        }
        put(spec_re, spec_im, c, slot(&bc_re, &bc_im, c).scale(step));
        #[unroll]
        for j in 0..rank {
            let k_pc = slot(&pc_re, &pc_im, c * rank + j).scale(step);
            let term = k_pc.times(slot(alpha_re, alpha_im, j));
            add_to(spec_re, spec_im, c, term.scale(-1.0));
        }
    }
}

/// K̂ (2, H, Cc, S) of the H systems at the S `nodes`; one unit per (h, k),
/// `count` = S.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn dplr_spectrum_forward(
    params: &DplrParams,
    nodes: &Tensor<f64>,
    out: &mut Tensor<f64>,
    heads: u32,
    modes: u32,
    count: u32,
    #[comptime] rank: usize,
    #[comptime] channels: usize,
) {
    let (heads, modes, count) = (heads as usize, modes as usize, count as usize);
    let unit = ABSOLUTE_POS;
    if unit >= heads * count {
        terminate!();
    }
    let (h, k) = (unit / count, unit % count);
    let mut alpha_re = Array::<f64>::new(rank);
    let mut alpha_im = Array::<f64>::new(rank);
    let mut beta_re = Array::<f64>::new(comptime![channels * rank]);
    let mut beta_im = Array::<f64>::new(comptime![channels * rank]);
    let mut spec_re = Array::<f64>::new(channels);
    let mut spec_im = Array::<f64>::new(channels);
    woodbury(
        params,
        h,
        node(nodes, k),
        heads,
        modes,
        &mut alpha_re,
        &mut alpha_im,
        &mut beta_re,
        &mut beta_im,
        &mut spec_re,
        &mut spec_im,
        rank,
        channels,
    );
    let half = heads * channels * count;
    #[unroll]
    for c in 0..channels {
        let at = (h * channels + c) * count + k;
        out[at] = spec_re[c];
        out[half + at] = spec_im[c];
    }
}

/// The backward's per-node pass, one unit per (h, k): α_j into `alpha`
/// (H, S, r), β_{c,i} into `beta` (H, S, Cc, r), and node k's share of
/// ∂L/∂Δ_h, Σ_c Re(Ḡ_c·s·Σ_m x_m² U_m V_cm), into `dt_terms` (H, S), for
/// the gradient `grad` (2, H, Cc, S) of K̂.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn dplr_spectrum_node_terms(
    params: &DplrParams,
    nodes: &Tensor<f64>,
    grad: &Tensor<f64>,
    solves: &mut WoodburyTerms,
    dt_terms: &mut Tensor<f64>,
    heads: u32,
    modes: u32,
    count: u32,
    #[comptime] rank: usize,
    #[comptime] channels: usize,
) {
    let (heads, modes, count) = (heads as usize, modes as usize, count as usize);
    let unit = ABSOLUTE_POS;
    if unit >= heads * count {
        terminate!();
    }
    let (h, k) = (unit / count, unit % count);
    let s = node(nodes, k);
    let mut alpha_re = Array::<f64>::new(rank);
    let mut alpha_im = Array::<f64>::new(rank);
    let mut beta_re = Array::<f64>::new(comptime![channels * rank]);
    let mut beta_im = Array::<f64>::new(comptime![channels * rank]);
    let mut spec_re = Array::<f64>::new(channels);
    let mut spec_im = Array::<f64>::new(channels);
    woodbury(
        params,
        h,
        s,
        heads,
        modes,
        &mut alpha_re,
        &mut alpha_im,
        &mut beta_re,
        &mut beta_im,
        &mut spec_re,
        &mut spec_im,
        rank,
        channels,
    );
    #[unroll]
    for j in 0..rank {
        solves.alpha_re[unit * rank + j] = alpha_re[j];
        solves.alpha_im[unit * rank + j] = alpha_im[j];
    }
    #[unroll]
    for i in 0..comptime![channels * rank] {
        solves.beta_re[unit * channels * rank + i] = beta_re[i];
        solves.beta_im[unit * channels * rank + i] = beta_im[i];
    }
    // Σ_m x_m² U_m V_cm per channel (Cc), U_m = B_m − Σ_j α_j P_jm and
    // V_cm = C_cm − Σ_i β_{c,i} Q_im.
    let step = params.dt[h];
    let mut d_re = Array::<f64>::new(channels);
    let mut d_im = Array::<f64>::new(channels);
    #[unroll]
    for c in 0..channels {
        d_re[c] = 0.0;
        d_im[c] = 0.0;
    }
    for n in 0..modes {
        let at = h * modes + n;
        for e in 0..2u32 {
            let sign = 1.0 - 2.0 * f64::cast_from(e);
            let x = s.minus(params.lambda(at, sign).scale(step)).inv();
            let b = params.b(at, sign);
            let mut u_re = b.re;
            let mut u_im = b.im;
            #[unroll]
            for j in 0..rank {
                let p = params.p(j * heads * modes + at, sign);
                let ap = slot(&alpha_re, &alpha_im, j).times(p);
                u_re -= ap.re;
                u_im -= ap.im;
            }
            let xxu = x.times(x).times(Cd::new(u_re, u_im));
            #[unroll]
            for c in 0..channels {
                let cc = params.c(c * heads * modes + at, sign);
                let mut v_re = cc.re;
                let mut v_im = cc.im;
                #[unroll]
                for i in 0..rank {
                    let q = params.p(i * heads * modes + at, sign).conj();
                    let bq = slot(&beta_re, &beta_im, c * rank + i).times(q);
                    v_re -= bq.re;
                    v_im -= bq.im;
                }
                add_to(&mut d_re, &mut d_im, c, xxu.times(Cd::new(v_re, v_im)));
            }
        }
    }
    let half = heads * channels * count;
    let mut term = 0.0f64;
    #[unroll]
    for c in 0..channels {
        let at = (h * channels + c) * count + k;
        let g_conj = Cd::new(grad[at], -grad[half + at]);
        term += g_conj.times(s).times(slot(&d_re, &d_im, c)).re;
    }
    dt_terms[unit] = term;
}

/// The backward's per-mode pass, one unit per (h, stored mode n): the
/// gradients of λ, B (H, N), P (r, H, N) and C̃ (Cc, H, N) at (h, n), summed
/// over the S nodes from `alpha` and `beta` of
/// [`dplr_spectrum_node_terms`]. A stored value θ at mode n has its
/// conjugate at N + n, so its gradient is Σ_k Σ_c G·conj(∂K̂/∂θ) +
/// Ḡ·∂K̂/∂θ̄ (`cpu.rs`).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn dplr_spectrum_mode_grads(
    params: &DplrParams,
    nodes: &Tensor<f64>,
    grad: &Tensor<f64>,
    solves: &WoodburyTerms,
    grads: &mut ModeGrads,
    heads: u32,
    modes: u32,
    count: u32,
    #[comptime] rank: usize,
    #[comptime] channels: usize,
) {
    let (heads, modes, count) = (heads as usize, modes as usize, count as usize);
    let unit = ABSOLUTE_POS;
    if unit >= heads * modes {
        terminate!();
    }
    let h = unit / modes;
    let at = unit;
    let step = params.dt[h];
    let lambda = params.lambda(at, 1.0);
    let b = params.b(at, 1.0);
    // P_j at the stored mode (its conjugate is the value at N + n).
    let mut p_s_re = Array::<f64>::new(rank);
    let mut p_s_im = Array::<f64>::new(rank);
    #[unroll]
    for j in 0..rank {
        put(
            &mut p_s_re,
            &mut p_s_im,
            j,
            params.p(j * heads * modes + at, 1.0),
        );
    }
    // ∂λ at slot 0, ∂B at slot 1.
    let mut g_lb_re = Array::<f64>::new(2usize);
    let mut g_lb_im = Array::<f64>::new(2usize);
    #[unroll]
    for i in 0..2usize {
        g_lb_re[i] = 0.0;
        g_lb_im[i] = 0.0;
    }
    let mut g_p_re = Array::<f64>::new(rank);
    let mut g_p_im = Array::<f64>::new(rank);
    let mut g_c_re = Array::<f64>::new(channels);
    let mut g_c_im = Array::<f64>::new(channels);
    #[unroll]
    for j in 0..rank {
        g_p_re[j] = 0.0;
        g_p_im[j] = 0.0;
    }
    #[unroll]
    for c in 0..channels {
        g_c_re[c] = 0.0;
        g_c_im[c] = 0.0;
    }
    let half = heads * channels * count;
    let w = lambda.scale(step);
    for k in 0..count {
        let s = node(nodes, k);
        let nk = h * count + k;
        // x at the stored mode (0) and at its conjugate (1).
        let x0 = s.minus(w).inv();
        let x1 = s.minus(w.conj()).inv();
        // U at the stored mode (slot 0) and at its conjugate (slot 1).
        let mut u_re = Array::<f64>::new(2usize);
        let mut u_im = Array::<f64>::new(2usize);
        put(&mut u_re, &mut u_im, 0usize, b);
        put(&mut u_re, &mut u_im, 1usize, b.conj());
        #[unroll]
        for j in 0..rank {
            let alpha = solves.alpha(nk * rank + j);
            let p = slot(&p_s_re, &p_s_im, j);
            add_to(&mut u_re, &mut u_im, 0usize, alpha.times(p).scale(-1.0));
            add_to(
                &mut u_re,
                &mut u_im,
                1usize,
                alpha.times(p.conj()).scale(-1.0),
            );
        }
        let u0 = slot(&u_re, &u_im, 0usize);
        let u1 = slot(&u_re, &u_im, 1usize);
        #[unroll]
        for c in 0..channels {
            let g_at = (h * channels + c) * count + k;
            let g = Cd::new(grad[g_at], grad[half + g_at]);
            let gc = g.conj();
            let cc = params.c(c * heads * modes + at, 1.0);
            // V at the stored mode (Q_i = P̄_i there) and at its conjugate
            // (Q_i = P_i).
            let mut v_re = Array::<f64>::new(2usize);
            let mut v_im = Array::<f64>::new(2usize);
            put(&mut v_re, &mut v_im, 0usize, cc);
            put(&mut v_re, &mut v_im, 1usize, cc.conj());
            #[unroll]
            for i in 0..rank {
                let beta_at = (nk * channels + c) * rank + i;
                let beta = solves.beta(beta_at);
                let p = slot(&p_s_re, &p_s_im, i);
                add_to(
                    &mut v_re,
                    &mut v_im,
                    0usize,
                    beta.times(p.conj()).scale(-1.0),
                );
                add_to(&mut v_re, &mut v_im, 1usize, beta.times(p).scale(-1.0));
            }
            let v0 = slot(&v_re, &v_im, 0usize);
            let v1 = slot(&v_re, &v_im, 1usize);
            // fold(holo, anti) = G·conj(holo) + Ḡ·anti.
            let x0v0 = x0.times(v0);
            let x1v1 = x1.times(v1);
            let x0u0 = x0.times(u0);
            let x1u1 = x1.times(u1);
            let share_b = fold(g, gc, x0v0.scale(step), x1v1.scale(step));
            add_to(&mut g_lb_re, &mut g_lb_im, 1usize, share_b);
            add_to(
                &mut g_c_re,
                &mut g_c_im,
                c,
                fold(g, gc, x0u0.scale(step), x1u1.scale(step)),
            );
            let step2 = step * step;
            let share_lambda = fold(
                g,
                gc,
                x0u0.times(x0v0).scale(step2),
                x1u1.times(x1v1).scale(step2),
            );
            add_to(&mut g_lb_re, &mut g_lb_im, 0usize, share_lambda);
            #[unroll]
            for j in 0..rank {
                let alpha = solves.alpha(nk * rank + j);
                let beta_at = (nk * channels + c) * rank + j;
                let beta = solves.beta(beta_at);
                // P_j as a row at n (holo) and N + n (anti); as the column
                // Q_j = P̄_j at N + n (holo) and n (anti).
                let holo = alpha.times(x0v0).plus(beta.times(x1u1)).scale(-step);
                let anti = alpha.times(x1v1).plus(beta.times(x0u0)).scale(-step);
                add_to(&mut g_p_re, &mut g_p_im, j, fold(g, gc, holo, anti));
            }
        }
    }
    grads.lambda_re[at] = g_lb_re[0usize];
    grads.lambda_im[at] = g_lb_im[0usize];
    grads.b_re[at] = g_lb_re[1usize];
    grads.b_im[at] = g_lb_im[1usize];
    #[unroll]
    for j in 0..rank {
        grads.p_re[j * heads * modes + at] = g_p_re[j];
        grads.p_im[j * heads * modes + at] = g_p_im[j];
    }
    #[unroll]
    for c in 0..channels {
        grads.c_re[c * heads * modes + at] = g_c_re[c];
        grads.c_im[c * heads * modes + at] = g_c_im[c];
    }
}

/// G·conj(holo) + Ḡ·anti: one stored value's share from its mode (holo)
/// and its conjugate mode (anti).
#[cube]
fn fold(g: Cd, g_conj: Cd, holo: Cd, anti: Cd) -> Cd {
    g.times(holo.conj()).plus(g_conj.times(anti))
}
