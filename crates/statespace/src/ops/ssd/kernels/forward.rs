//! The forward passes of SSD's chunked algorithm (see [`super`]): the
//! groups' inner products Cᵢ·Bⱼ, the chunk states, the pass of states
//! across chunks and the outputs. The backward reruns the chunk states and
//! the state pass in reverse, on (∂y, C).

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

use super::{
    BLOCK, EDGE, PAD, Quad, SCALE_FROM_START, SCALE_NONE, SCALE_TO_END, SLICE, STEPS, TILE,
    chunk_cumsum, chunk_output_block, decay_products_of, inner_products, remaining, stage,
    tile_mma, valid_steps, zero_tile,
};

/// Chunks whose states one unit of the state pass loads at a time (the
/// pass took 0.74 ms with one, 0.23 … 0.34 with 8, 0.15 with 16 at batch 8,
/// L 2048 on the H200).
const PASS_AHEAD: usize = 16;

/// The inner products Cᵢ·Bⱼ of each chunk's steps, shared by the heads of a
/// group: `cb` (batch, chunks, G, STEPS, STEPS), 0 past L. Cubes (chunks,
/// G, batch).
#[cube(launch_unchecked)]
pub fn ssd_chunk_cb<F: Float>(
    bm: &Tensor<F>,
    cm: &Tensor<F>,
    cb: &mut Tensor<f32>,
    len: u32,
    #[define(F)] _dtype: StorageType,
) {
    // No operand is scaled along time: the decays are applied per head.
    let unscaled = SharedMemory::<f32>::new(1usize);
    let mut st_a = SharedMemory::<Quad>::new(SLICE * PAD);
    let mut st_b = SharedMemory::<Quad>::new(SLICE * PAD);
    let mut acc = Array::<f32>::new(TILE * TILE);
    let len = len as usize;
    let (groups, n_dim) = (bm.shape(2), bm.shape(3));
    let chunks = len.div_ceil(STEPS);
    let k = CUBE_POS_X as usize;
    let g = CUBE_POS_Y as usize;
    let batch = CUBE_POS_Z as usize;
    let t0 = k * STEPS;
    let valid = valid_steps(t0, len);
    let b_base = batch * bm.stride(0) + t0 * bm.stride(1) + g * bm.stride(2);
    let c_base = batch * cm.stride(0) + t0 * cm.stride(1) + g * cm.stride(2);
    inner_products::<F>(
        cm, c_base, bm, b_base, n_dim, valid, &unscaled, &mut st_a, &mut st_b, &mut acc,
    );
    let base = ((batch * chunks + k) * groups + g) * STEPS * STEPS;
    let row = UNIT_POS_Y as usize;
    let col = UNIT_POS_X as usize;
    #[unroll]
    for i in 0..TILE {
        #[unroll]
        for j in 0..TILE {
            cb[base + (row + EDGE * i) * STEPS + col + EDGE * j] = acc[i * TILE + j];
        }
    }
}

/// The per-chunk states S[p][n] = Σ_t w_t·x_t[p]·B_t[n] of one (64 × 64)
/// block of (P, N): w_t = e^{c_end − c_t}, or e^{c_t} with `reverse` (on
/// (∂y, C), the gradient state a chunk sends back). Cubes (chunks · blocks
/// of P · blocks of N, H, batch); with `write_decays` also decays
/// [batch, h, k] = e^{c_end}.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn ssd_chunk_states<F: Float>(
    x: &Tensor<F>,
    a: &Tensor<F>,
    bm: &Tensor<F>,
    states: &mut Tensor<f32>,
    decays: &mut Tensor<f32>,
    len: u32,
    #[comptime] reverse: bool,
    #[comptime] write_decays: bool,
    #[define(F)] _dtype: StorageType,
) {
    let mut values = SharedMemory::<f32>::new(STEPS);
    let mut cum = SharedMemory::<f32>::new(STEPS);
    let mut st_a = SharedMemory::<Quad>::new(SLICE * PAD);
    let mut st_b = SharedMemory::<Quad>::new(SLICE * PAD);
    let mut acc = Array::<f32>::new(TILE * TILE);
    let len = len as usize;
    let (heads, p_dim) = (x.shape(2), x.shape(3));
    let (groups, n_dim) = (bm.shape(2), bm.shape(3));
    let chunks = len.div_ceil(STEPS);
    let p_blocks = p_dim.div_ceil(BLOCK);
    let n_blocks = n_dim.div_ceil(BLOCK);
    let k = CUBE_POS_X as usize / (p_blocks * n_blocks);
    let blk = CUBE_POS_X as usize % (p_blocks * n_blocks);
    let p0 = (blk / n_blocks) * BLOCK;
    let n0 = (blk % n_blocks) * BLOCK;
    let h = CUBE_POS_Y as usize;
    let batch = CUBE_POS_Z as usize;
    let g = h / (heads / groups);
    let t0 = k * STEPS;
    let valid = valid_steps(t0, len);
    chunk_cumsum::<F>(a, batch, h, t0, len, &mut values, &mut cum);

    let x_base = batch * x.stride(0) + t0 * x.stride(1) + h * x.stride(2) + p0 * x.stride(3);
    let b_base = batch * bm.stride(0) + t0 * bm.stride(1) + g * bm.stride(2) + n0 * bm.stride(3);
    zero_tile(&mut acc);
    let mut s0 = 0;
    while s0 < STEPS {
        let lim = remaining(valid, s0);
        // A(m = p, k = step): x scaled along time; B(k = step, n).
        if reverse {
            stage::<F>(
                x,
                x_base + s0 * x.stride(1),
                x.stride(3),
                x.stride(1),
                p_dim - p0,
                lim,
                &mut st_a,
                &cum,
                s0,
                false,
                SCALE_FROM_START,
            );
        } else {
            stage::<F>(
                x,
                x_base + s0 * x.stride(1),
                x.stride(3),
                x.stride(1),
                p_dim - p0,
                lim,
                &mut st_a,
                &cum,
                s0,
                false,
                SCALE_TO_END,
            );
        }
        stage::<F>(
            bm,
            b_base + s0 * bm.stride(1),
            bm.stride(3),
            bm.stride(1),
            n_dim - n0,
            lim,
            &mut st_b,
            &cum,
            s0,
            false,
            SCALE_NONE,
        );
        sync_cube();
        tile_mma(&st_a, 0, &st_b, 0, &mut acc);
        sync_cube();
        s0 += SLICE;
    }
    let row = UNIT_POS_Y as usize;
    let col = UNIT_POS_X as usize;
    let base = ((batch * chunks + k) * heads + h) * p_dim * n_dim;
    #[unroll]
    for i in 0..TILE {
        #[unroll]
        for j in 0..TILE {
            let (p, n) = (p0 + row + EDGE * i, n0 + col + EDGE * j);
            if p < p_dim && n < n_dim {
                states[base + p * n_dim + n] = acc[i * TILE + j];
            }
        }
    }
    if write_decays && blk == 0 && UNIT_POS == 0 {
        decays[(batch * heads + h) * chunks + k] = cum[STEPS - 1].exp();
    }
}

/// Passes states across chunks, one unit per (batch, head, p, n), in place:
/// each chunk's own state S_k is replaced by the state entering it (in
/// time order from `init`, or zero) or, with `reverse`, by the gradient
/// state arriving at its end (from `init` = ∂h_final, from the last chunk
/// down). `last` gets what leaves the sequence: the final state, or with
/// `reverse` the gradient of the initial state; (batch, H, P, N) packed.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn ssd_state_pass<F: Float, S: Float>(
    states: &mut Tensor<f32>,
    decays: &Tensor<f32>,
    init: &Tensor<F>,
    last: &mut Tensor<S>,
    heads: u32,
    size: u32,
    chunks: u32,
    #[comptime] has_init: bool,
    #[comptime] reverse: bool,
    #[define(F, S)] _dtypes: [StorageType; 2],
) {
    let (heads, size, chunks) = (heads as usize, size as usize, chunks as usize);
    let pos = ABSOLUTE_POS;
    if pos >= last.len() {
        terminate!();
    }
    let bh = pos / size;
    let e = pos % size;
    let batch = bh / heads;
    let h = bh % heads;
    let mut carry = 0.0f32;
    if has_init {
        // init is (batch, H, P, N) through its strides; e = p·N + n.
        let n_dim = init.shape(3);
        carry = f32::cast_from(
            init[batch * init.stride(0)
                + h * init.stride(1)
                + (e / n_dim) * init.stride(2)
                + (e % n_dim) * init.stride(3)],
        );
    }
    // PASS_AHEAD chunks' states are loaded before any is replaced, so that
    // many loads are in flight (one at a time, the walk is latency-bound).
    let mut own = Array::<f32>::new(PASS_AHEAD);
    let mut decay = Array::<f32>::new(PASS_AHEAD);
    let mut i0 = 0;
    while i0 < chunks {
        #[unroll]
        for j in 0..PASS_AHEAD {
            let i = i0 + j;
            if i < chunks {
                let mut k = i;
                if reverse {
                    k = chunks - 1 - i;
                }
                own[j] = states[((batch * chunks + k) * heads + h) * size + e];
                decay[j] = decays[bh * chunks + k];
            }
        }
        #[unroll]
        for j in 0..PASS_AHEAD {
            let i = i0 + j;
            if i < chunks {
                let mut k = i;
                if reverse {
                    k = chunks - 1 - i;
                }
                states[((batch * chunks + k) * heads + h) * size + e] = carry;
                carry = decay[j] * carry + own[j];
            }
        }
        i0 += PASS_AHEAD;
    }
    last[pos] = S::cast_from(carry);
}

/// y (batch, L, H, P) of one (batch, head, chunk): cubes (chunks, H, batch).
/// `entering` holds the state entering each chunk.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn ssd_chunk_outputs<F: Float>(
    x: &Tensor<F>,
    a: &Tensor<F>,
    bm: &Tensor<F>,
    cm: &Tensor<F>,
    cb: &Tensor<f32>,
    entering: &Tensor<f32>,
    y: &mut Tensor<F>,
    len: u32,
    #[define(F)] _dtype: StorageType,
) {
    let mut values = SharedMemory::<f32>::new(STEPS);
    let mut cum = SharedMemory::<f32>::new(STEPS);
    let mut st_a = SharedMemory::<Quad>::new(2 * SLICE * PAD);
    let mut st_b = SharedMemory::<Quad>::new(2 * SLICE * PAD);
    let mut m = SharedMemory::<Quad>::new(STEPS * PAD);
    let mut unused = SharedMemory::<Quad>::new(1usize);
    let mut acc = Array::<f32>::new(TILE * TILE);
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
    let bc_base_c = batch * cm.stride(0) + t0 * cm.stride(1) + g * cm.stride(2);
    let cb_base = ((batch * chunks + k) * groups + g) * STEPS * STEPS;
    decay_products_of(
        cb,
        cb_base,
        valid,
        &cum,
        &mut m,
        &mut unused,
        &mut acc,
        true,
        false,
    );
    let x_base = batch * x.stride(0) + t0 * x.stride(1) + h * x.stride(2);
    let y_base = batch * y.stride(0) + t0 * y.stride(1) + h * y.stride(2);
    let state_base = ((batch * chunks + k) * heads + h) * p_dim * n_dim;
    let row = UNIT_POS_Y as usize;
    let col = UNIT_POS_X as usize;
    let mut p0 = 0;
    while p0 < p_dim {
        chunk_output_block::<F>(
            x,
            x_base + p0 * x.stride(3),
            cm,
            bc_base_c,
            entering,
            state_base + p0 * n_dim,
            p_dim - p0,
            n_dim,
            valid,
            &cum,
            &m,
            &mut st_a,
            &mut st_b,
            &mut acc,
            false,
        );
        #[unroll]
        for i in 0..TILE {
            #[unroll]
            for j in 0..TILE {
                let (t, p) = (row + EDGE * i, p0 + col + EDGE * j);
                if t < valid && p < p_dim {
                    y[y_base + t * y.stride(1) + p * y.stride(3)] = F::cast_from(acc[i * TILE + j]);
                }
            }
        }
        p0 += BLOCK;
    }
}
