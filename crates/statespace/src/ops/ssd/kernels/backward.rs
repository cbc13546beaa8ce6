//! The backward's own kernels of SSD's chunked algorithm (see [`super`]):
//! ∂x and the suffix sums of ∂c per chunk, ∂B and ∂C per group, and ∂a
//! from the chunks' totals.

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

use super::{
    BLOCK, EDGE, PAD, Quad, SCALE_FROM_START, SCALE_NONE, SCALE_TO_END, SLICE, STEPS, TILE, UNITS,
    add_scaled_rows, apply_decay, chunk_cumsum, chunk_output_block, decay_products_of,
    inner_products, remaining, stage, store_tile, tile_mma, valid_steps, zero_tile,
};

/// The backward of one (batch, head, chunk): ∂x, and ∂c summed from each
/// step to the chunk's end into `dcum` (batch, H, chunks·STEPS) with the
/// chunk's total in `totals` (batch, H, chunks). Recomputes y from the
/// entering states; the last chunk adds ⟨∂h_final, h_final⟩ at the last
/// step. Cubes (chunks, H, batch).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn ssd_chunk_backward<F: Float>(
    x: &Tensor<F>,
    a: &Tensor<F>,
    bm: &Tensor<F>,
    cm: &Tensor<F>,
    cb: &Tensor<f32>,
    dy: &Tensor<F>,
    entering: &Tensor<f32>,
    arriving: &Tensor<f32>,
    d_final: &Tensor<F>,
    final_state: &Tensor<f32>,
    dx: &mut Tensor<F>,
    dcum: &mut Tensor<f32>,
    totals: &mut Tensor<f32>,
    len: u32,
    #[define(F)] _dtype: StorageType,
) {
    let mut values = SharedMemory::<f32>::new(STEPS);
    let mut cum = SharedMemory::<f32>::new(STEPS);
    let mut st_a = SharedMemory::<Quad>::new(2 * SLICE * PAD);
    let mut st_b = SharedMemory::<Quad>::new(2 * SLICE * PAD);
    let mut m_by_cols = SharedMemory::<Quad>::new(STEPS * PAD);
    let mut m_by_rows = SharedMemory::<Quad>::new(STEPS * PAD);
    let mut partial = SharedMemory::<f32>::new(STEPS * (EDGE + 1));
    let mut acc = Array::<f32>::new(TILE * TILE);
    let mut grad = Array::<f32>::new(TILE * TILE);
    let mut own = Array::<f32>::new(TILE);
    let len = len as usize;
    let (heads, p_dim) = (x.shape(2), x.shape(3));
    let (groups, n_dim) = (bm.shape(2), bm.shape(3));
    let chunks = len.div_ceil(STEPS);
    let k = CUBE_POS_X as usize;
    let h = CUBE_POS_Y as usize;
    let batch = CUBE_POS_Z as usize;
    let g = h / (heads / groups);
    let t0 = k * STEPS;
    let valid = valid_steps(t0, len);
    chunk_cumsum::<F>(a, batch, h, t0, len, &mut values, &mut cum);
    let b_base = batch * bm.stride(0) + t0 * bm.stride(1) + g * bm.stride(2);
    let c_base = batch * cm.stride(0) + t0 * cm.stride(1) + g * cm.stride(2);
    let cb_base = ((batch * chunks + k) * groups + g) * STEPS * STEPS;
    decay_products_of(
        cb,
        cb_base,
        valid,
        &cum,
        &mut m_by_cols,
        &mut m_by_rows,
        &mut acc,
        true,
        true,
    );
    let x_base = batch * x.stride(0) + t0 * x.stride(1) + h * x.stride(2);
    let dy_base = batch * dy.stride(0) + t0 * dy.stride(1) + h * dy.stride(2);
    let dx_base = batch * dx.stride(0) + t0 * dx.stride(1) + h * dx.stride(2);
    let state_base = ((batch * chunks + k) * heads + h) * p_dim * n_dim;
    let row = UNIT_POS_Y as usize;
    let col = UNIT_POS_X as usize;
    #[unroll]
    for i in 0..TILE {
        own[i] = 0.0;
    }
    let mut p0 = 0;
    while p0 < p_dim {
        // y, recomputed.
        chunk_output_block::<F>(
            x,
            x_base + p0 * x.stride(3),
            cm,
            c_base,
            entering,
            state_base + p0 * n_dim,
            p_dim - p0,
            n_dim,
            valid,
            &cum,
            &m_by_cols,
            &mut st_a,
            &mut st_b,
            &mut acc,
            false,
        );
        // ∂x.
        chunk_output_block::<F>(
            dy,
            dy_base + p0 * dy.stride(3),
            bm,
            b_base,
            arriving,
            state_base + p0 * n_dim,
            p_dim - p0,
            n_dim,
            valid,
            &cum,
            &m_by_rows,
            &mut st_a,
            &mut st_b,
            &mut grad,
            true,
        );
        #[unroll]
        for i in 0..TILE {
            #[unroll]
            for j in 0..TILE {
                let (t, p) = (row + EDGE * i, p0 + col + EDGE * j);
                if t < valid && p < p_dim {
                    let g_x = grad[i * TILE + j];
                    dx[dx_base + t * dx.stride(1) + p * dx.stride(3)] = F::cast_from(g_x);
                    let xv = f32::cast_from(x[x_base + t * x.stride(1) + p * x.stride(3)]);
                    let dyv = f32::cast_from(dy[dy_base + t * dy.stride(1) + p * dy.stride(3)]);
                    own[i] += dyv * acc[i * TILE + j] - xv * g_x;
                }
            }
        }
        p0 += BLOCK;
    }
    // ∂c per step: sum the units' partials along the row.
    #[unroll]
    for i in 0..TILE {
        partial[(row + EDGE * i) * (EDGE + 1) + col] = own[i];
    }
    // The last chunk: ⟨∂h_final, h_final⟩ (into `values`, free again).
    if k == chunks - 1 {
        let size = p_dim * n_dim;
        let mut s = 0.0f32;
        let mut e = UNIT_POS as usize;
        while e < size {
            let (p, n) = (e / n_dim, e % n_dim);
            let d = f32::cast_from(
                d_final[batch * d_final.stride(0)
                    + h * d_final.stride(1)
                    + p * d_final.stride(2)
                    + n * d_final.stride(3)],
            );
            s += d * final_state[(batch * heads + h) * size + e];
            e += UNITS;
        }
        s = plane_sum(s);
        // Planes are runs of PLANE_DIM consecutive units; CubeCL's
        // PLANE_POS and UNIT_POS_PLANE assume a one-dimensional cube.
        let lane = UNIT_POS % PLANE_DIM;
        if lane == 0 {
            values[(UNIT_POS / PLANE_DIM) as usize] = s;
        }
    }
    sync_cube();
    let u = UNIT_POS as usize;
    if u < STEPS {
        let mut d = 0.0f32;
        for c in 0..EDGE {
            d += partial[u * (EDGE + 1) + c];
        }
        if k == chunks - 1 && u == valid - 1 {
            for w in 0..UNITS / PLANE_DIM as usize {
                d += values[w];
            }
        }
        cum[u] = d;
    }
    sync_cube();
    if u < STEPS {
        let mut suffix = 0.0f32;
        for v in u..valid {
            suffix += cum[v];
        }
        dcum[(batch * heads + h) * chunks * STEPS + t0 + u] = suffix;
        if u == 0 {
            totals[(batch * heads + h) * chunks + k] = suffix;
        }
    }
}

/// ∂B and ∂C of one (batch, group, chunk) and (64-wide) block of N, summed
/// over the group's heads: with D[s][t] = (∂y_s·x_t)·e^{c_s − c_t} (t ≤ s),
/// ∂B_t = Σ_s D[s][t]·C_s + e^{c_end − c_t}·x_t R,
/// ∂C_s = Σ_t D[s][t]·B_t + e^{c_s}·∂y_s H,
/// R the gradient state arriving at the chunk's end and H the state
/// entering it. Cubes (chunks · blocks of N, G, batch).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn ssd_chunk_bc_grads<F: Float>(
    x: &Tensor<F>,
    a: &Tensor<F>,
    bm: &Tensor<F>,
    cm: &Tensor<F>,
    dy: &Tensor<F>,
    entering: &Tensor<f32>,
    arriving: &Tensor<f32>,
    db: &mut Tensor<F>,
    dc: &mut Tensor<F>,
    len: u32,
    #[define(F)] _dtype: StorageType,
) {
    let mut values = SharedMemory::<f32>::new(STEPS);
    let mut cum = SharedMemory::<f32>::new(STEPS);
    let mut st_a = SharedMemory::<Quad>::new(SLICE * PAD);
    let mut st_b = SharedMemory::<Quad>::new(SLICE * PAD);
    let mut d_by_cols = SharedMemory::<Quad>::new(STEPS * PAD);
    let mut d_by_rows = SharedMemory::<Quad>::new(STEPS * PAD);
    let mut acc = Array::<f32>::new(TILE * TILE);
    let mut acc_b = Array::<f32>::new(TILE * TILE);
    let mut acc_c = Array::<f32>::new(TILE * TILE);
    let len = len as usize;
    let (heads, p_dim) = (x.shape(2), x.shape(3));
    let (groups, n_dim) = (bm.shape(2), bm.shape(3));
    let per_group = heads / groups;
    let chunks = len.div_ceil(STEPS);
    let n_blocks = n_dim.div_ceil(BLOCK);
    let k = CUBE_POS_X as usize / n_blocks;
    let n0 = (CUBE_POS_X as usize % n_blocks) * BLOCK;
    let g = CUBE_POS_Y as usize;
    let batch = CUBE_POS_Z as usize;
    let t0 = k * STEPS;
    let valid = valid_steps(t0, len);
    let b_base = batch * bm.stride(0) + t0 * bm.stride(1) + g * bm.stride(2) + n0 * bm.stride(3);
    let c_base = batch * cm.stride(0) + t0 * cm.stride(1) + g * cm.stride(2) + n0 * cm.stride(3);
    let n_lim = n_dim - n0;
    zero_tile(&mut acc_b);
    zero_tile(&mut acc_c);
    for hh in 0..per_group {
        let h = g * per_group + hh;
        chunk_cumsum::<F>(a, batch, h, t0, len, &mut values, &mut cum);
        let x_base = batch * x.stride(0) + t0 * x.stride(1) + h * x.stride(2);
        let dy_base = batch * dy.stride(0) + t0 * dy.stride(1) + h * dy.stride(2);
        inner_products::<F>(
            dy, dy_base, x, x_base, p_dim, valid, &cum, &mut st_a, &mut st_b, &mut acc,
        );
        apply_decay(&mut acc, valid, &cum);
        store_tile(&acc, &mut d_by_cols, &mut d_by_rows, true, true);
        // Σ_s D[s][t]·C_s and Σ_t D[s][t]·B_t, SLICE steps at a time.
        let mut s0 = 0;
        while s0 < STEPS {
            let lim = remaining(valid, s0);
            stage::<F>(
                cm,
                c_base + s0 * cm.stride(1),
                cm.stride(3),
                cm.stride(1),
                n_lim,
                lim,
                &mut st_a,
                &cum,
                s0,
                false,
                SCALE_NONE,
            );
            stage::<F>(
                bm,
                b_base + s0 * bm.stride(1),
                bm.stride(3),
                bm.stride(1),
                n_lim,
                lim,
                &mut st_b,
                &cum,
                s0,
                false,
                SCALE_NONE,
            );
            sync_cube();
            // ∂B: A(m = t, k = s) = D[s0 + k][t]; ∂C: A(m = s, k = t) = D[s][s0 + k].
            tile_mma(&d_by_rows, s0 * PAD, &st_a, 0, &mut acc_b);
            tile_mma(&d_by_cols, s0 * PAD, &st_b, 0, &mut acc_c);
            sync_cube();
            s0 += SLICE;
        }
        // The carried states, SLICE of P at a time, into `acc` (free once
        // D is stored) unscaled, then added row-scaled: x·R to ∂B with
        // e^{c_end − c_t}, ∂y·H to ∂C with e^{c_s}. B(k = p, n) = R[p][n] / H[p][n].
        let state_base = ((batch * chunks + k) * heads + h) * p_dim * n_dim + n0;
        carried_state_product::<F>(
            x, x_base, arriving, state_base, p_dim, n_dim, n_lim, valid, &cum, &mut st_a,
            &mut st_b, &mut acc,
        );
        add_scaled_rows(&mut acc_b, &acc, &cum, SCALE_TO_END);
        carried_state_product::<F>(
            dy, dy_base, entering, state_base, p_dim, n_dim, n_lim, valid, &cum, &mut st_a,
            &mut st_b, &mut acc,
        );
        add_scaled_rows(&mut acc_c, &acc, &cum, SCALE_FROM_START);
    }
    let row = UNIT_POS_Y as usize;
    let col = UNIT_POS_X as usize;
    let db_base = batch * db.stride(0) + t0 * db.stride(1) + g * db.stride(2) + n0 * db.stride(3);
    let dc_base = batch * dc.stride(0) + t0 * dc.stride(1) + g * dc.stride(2) + n0 * dc.stride(3);
    #[unroll]
    for i in 0..TILE {
        #[unroll]
        for j in 0..TILE {
            let (t, n) = (row + EDGE * i, col + EDGE * j);
            if t < valid && n < n_lim {
                db[db_base + t * db.stride(1) + n * db.stride(3)] =
                    F::cast_from(acc_b[i * TILE + j]);
                dc[dc_base + t * dc.stride(1) + n * dc.stride(3)] =
                    F::cast_from(acc_c[i * TILE + j]);
            }
        }
    }
}

/// acc = Σ_p u_t[p]·S[p][n] over the chunk's steps t (rows) and this
/// cube's block of N (columns), SLICE of P at a time: u (batch, L, H, P)
/// at `u_base` for the chunk's first step, S (P, N) rows of `n_dim` at
/// `s_base` (the block's first column).
#[cube]
#[allow(clippy::too_many_arguments)]
fn carried_state_product<F: Float>(
    u: &Tensor<F>,
    u_base: usize,
    s: &Tensor<f32>,
    s_base: usize,
    p_dim: usize,
    n_dim: usize,
    n_lim: usize,
    valid: usize,
    cum: &SharedMemory<f32>,
    st_a: &mut SharedMemory<Quad>,
    st_b: &mut SharedMemory<Quad>,
    acc: &mut Array<f32>,
) {
    zero_tile(acc);
    let mut q0 = 0;
    while q0 < p_dim {
        let lim = p_dim - q0;
        stage::<F>(
            u,
            u_base + q0 * u.stride(3),
            u.stride(1),
            u.stride(3),
            valid,
            lim,
            st_a,
            cum,
            0,
            true,
            SCALE_NONE,
        );
        stage::<f32>(
            s,
            s_base + q0 * n_dim,
            1,
            n_dim,
            n_lim,
            lim,
            st_b,
            cum,
            0,
            true,
            SCALE_NONE,
        );
        sync_cube();
        tile_mma(st_a, 0, st_b, 0, acc);
        sync_cube();
        q0 += SLICE;
    }
}

/// Replaces each chunk's ∂c total by the sum of the totals after it, one
/// unit per (batch, head): `totals` (batch·H, chunks).
#[cube(launch_unchecked)]
pub fn ssd_decay_carry(totals: &mut Tensor<f32>, rows: u32, chunks: u32) {
    let pos = ABSOLUTE_POS;
    if pos >= rows as usize {
        terminate!();
    }
    let chunks = chunks as usize;
    let mut carry = 0.0f32;
    for i in 0..chunks {
        let at = pos * chunks + chunks - 1 - i;
        let own = totals[at];
        totals[at] = carry;
        carry += own;
    }
}

/// ∂a[batch, t, h] = (∂c summed from t to its chunk's end) + (the totals of
/// the chunks after it), one unit per element of ∂a (batch, L, H) packed.
#[cube(launch_unchecked)]
pub fn ssd_decay_grad<F: Float>(
    dcum: &Tensor<f32>,
    carry: &Tensor<f32>,
    da: &mut Tensor<F>,
    len: u32,
    heads: u32,
    #[define(F)] _dtype: StorageType,
) {
    let pos = ABSOLUTE_POS;
    if pos >= da.len() {
        terminate!();
    }
    let (len, heads) = (len as usize, heads as usize);
    let chunks = len.div_ceil(STEPS);
    let h = pos % heads;
    let t = (pos / heads) % len;
    let batch = pos / (heads * len);
    let bh = batch * heads + h;
    da[pos] = F::cast_from(dcum[bh * chunks * STEPS + t] + carry[bh * chunks + t / STEPS]);
}
