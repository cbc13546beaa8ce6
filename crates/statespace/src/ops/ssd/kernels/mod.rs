//! CubeCL kernels of SSD by the chunked algorithm, forward and backward, in
//! f32 arithmetic whatever the storage type `F`.
//!
//! The sequence is cut into chunks of [`STEPS`] steps (an internal choice:
//! the result does not depend on it). Per (batch, head) with cumulative
//! decays cᵢ = a₀ + … + aᵢ inside a chunk:
//! - chunk states S = Σⱼ e^{c_end − cⱼ} xⱼ ⊗ Bⱼ ([`ssd_chunk_states`]);
//! - the states entering each chunk, H_{k+1} = e^{c_end,k} H_k + S_k, one
//!   unit per state element walking the chunks ([`ssd_state_pass`]);
//! - outputs yᵢ = Σ_{j≤i} e^{cᵢ − cⱼ} (Cᵢ·Bⱼ) xⱼ + e^{cᵢ} H Cᵢ
//!   ([`ssd_chunk_outputs`]), with the inner products Cᵢ·Bⱼ formed once per
//!   group ([`ssd_chunk_cb`]).
//!
//! The backward runs the same three passes in reverse on (∂y, C) to get the
//! gradient state R arriving at each chunk's end, then ∂x (the transposed
//! output pass), ∂B and ∂C per group summed over its heads
//! ([`ssd_chunk_bc_grads`]), and ∂a from ∂cᵢ = ∂yᵢ·yᵢ − xᵢ·∂xᵢ (plus
//! ⟨∂h_final, h_final⟩ at the last step) summed from each step to the end
//! (suffix sums in [`ssd_chunk_backward`], [`ssd_decay_carry`] and
//! [`ssd_decay_grad`]).
//!
//! Every product is a (64 × 64) output block of a cube of 16 × 16 units,
//! each unit a 4 × 4 register tile, with its operands staged in shared
//! memory [`SLICE`] rows of the inner dimension at a time. Shapes: x, ∂y, ∂x
//! (batch, L, H, P); a, ∂a (batch, L, H); B, C, ∂B, ∂C (batch, L, G, N);
//! states (batch, chunks, H, P, N) and decays (batch, H, chunks), f32,
//! packed. Inputs are read through their strides. Indices are in bounds by
//! construction (`ssd()` validated the shapes; the launcher reads the sizes
//! off the inputs and checks they fit 32-bit indices), so the kernels
//! launch unchecked.

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

pub use super::plan::STEPS;
/// Edge of the output block of one cube.
pub const BLOCK: usize = 64;
/// Units along each edge of a cube (16 × 16 = 256 units).
pub const EDGE: usize = 16;
/// Units per cube.
pub const UNITS: usize = EDGE * EDGE;
/// Chunks whose states one unit of the state pass loads at a time (the
/// pass took 0.74 ms with one, 0.23 … 0.34 with 8, 0.15 with 16 at batch 8,
/// L 2048 on the H200).
const PASS_AHEAD: usize = 16;
/// Rows of the inner dimension staged at a time.
const SLICE: usize = 32;
/// Row stride of a staged slice or block (one padding float against bank
/// conflicts).
const PAD: usize = BLOCK + 1;
/// Edge of each unit's register tile.
const TILE: usize = BLOCK / EDGE;

/// How a staged operand is scaled along its time index t (in the chunk):
/// not, by e^{c_t}, or by e^{c_end − c_t}.
const SCALE_NONE: u32 = 0;
/// Scale by e^{c_t}.
const SCALE_FROM_START: u32 = 1;
/// Scale by e^{c_end − c_t}.
const SCALE_TO_END: u32 = 2;

/// Loads a of the chunk's steps t0.. for (batch, head) and forms the
/// inclusive cumulative sums c (a = 0 past `len`, so c_end = c[STEPS − 1]).
#[cube]
fn chunk_cumsum<F: Float>(
    a: &Tensor<F>,
    batch: usize,
    head: usize,
    t0: usize,
    len: usize,
    values: &mut SharedMemory<f32>,
    cum: &mut SharedMemory<f32>,
) {
    let u = UNIT_POS as usize;
    if u < STEPS {
        let mut v = 0.0f32;
        if t0 + u < len {
            v = f32::cast_from(
                a[batch * a.stride(0) + (t0 + u) * a.stride(1) + head * a.stride(2)],
            );
        }
        values[u] = v;
    }
    sync_cube();
    if u < STEPS {
        let mut s = 0.0f32;
        for v in 0..u + 1 {
            s += values[v];
        }
        cum[u] = s;
    }
    sync_cube();
}

/// The time scale of a staged operand at chunk step t.
#[cube]
fn time_scale(cum: &SharedMemory<f32>, t: usize, #[comptime] scale: u32) -> f32 {
    let mut s = 1.0f32;
    if scale == SCALE_FROM_START {
        s = cum[t].exp();
    } else if scale == SCALE_TO_END {
        s = (cum[STEPS - 1] - cum[t]).exp();
    }
    s
}

/// Stages a (BLOCK × SLICE) view of `src` as st[k·PAD + r]: element (r, k)
/// at `base + r·r_stride + k·k_stride`, zero where r ≥ `r_lim` or
/// k ≥ `k_lim`, scaled along its time index (r when `time_is_row`, else k,
/// offset by `time_base` in the chunk). Global reads step along the
/// contiguous index.
#[cube]
#[allow(clippy::too_many_arguments)]
fn stage<F: Float>(
    src: &Tensor<F>,
    base: usize,
    r_stride: usize,
    k_stride: usize,
    r_lim: usize,
    k_lim: usize,
    st: &mut SharedMemory<f32>,
    cum: &SharedMemory<f32>,
    time_base: usize,
    #[comptime] time_is_row: bool,
    #[comptime] scale: u32,
) {
    let rows_fast = r_stride <= k_stride;
    #[unroll]
    for i in 0..BLOCK * SLICE / UNITS {
        let e = UNIT_POS as usize + i * UNITS;
        let mut r = e / SLICE;
        let mut k = e % SLICE;
        if rows_fast {
            r = e % BLOCK;
            k = e / BLOCK;
        }
        let mut v = 0.0f32;
        if r < r_lim && k < k_lim {
            v = f32::cast_from(src[base + r * r_stride + k * k_stride]);
            if scale != SCALE_NONE {
                let mut t = time_base + k;
                if time_is_row {
                    t = time_base + r;
                }
                v *= time_scale(cum, t, scale);
            }
        }
        st[k * PAD + r] = v;
    }
}

/// acc[i·TILE + j] += Σ_k A(m, k)·B(k, n) over k < SLICE, for this unit's
/// rows m = y + EDGE·i and columns n = x + EDGE·j, with A(m, k) at
/// `a[a_base + m·a_m + k·a_k]` and B(k, n) at `b[k·PAD + n]`. The strides
/// are compile-time constants, so the unrolled loads take immediate offsets.
#[cube]
#[allow(clippy::too_many_arguments)]
fn tile_mma(
    a: &SharedMemory<f32>,
    a_base: usize,
    #[comptime] a_m: usize,
    #[comptime] a_k: usize,
    b: &SharedMemory<f32>,
    acc: &mut Array<f32>,
    av: &mut Array<f32>,
) {
    let row = UNIT_POS_Y as usize;
    let col = UNIT_POS_X as usize;
    #[unroll]
    for k in 0..SLICE {
        #[unroll]
        for i in 0..TILE {
            av[i] = a[a_base + (row + EDGE * i) * a_m + k * a_k];
        }
        #[unroll]
        for j in 0..TILE {
            let bv = b[k * PAD + col + EDGE * j];
            #[unroll]
            for i in 0..TILE {
                acc[i * TILE + j] += av[i] * bv;
            }
        }
    }
}

#[cube]
fn zero_tile(acc: &mut Array<f32>) {
    #[unroll]
    for e in 0..TILE * TILE {
        acc[e] = 0.0;
    }
}

/// Valid steps of the chunk starting at t0 (at most STEPS).
#[cube]
fn valid_steps(t0: usize, len: usize) -> usize {
    let mut v = len - t0;
    if v > STEPS {
        v = STEPS;
    }
    v
}

/// max(v − base, 0).
#[cube]
fn remaining(v: usize, base: usize) -> usize {
    let mut r = 0;
    if v > base {
        r = v - base;
    }
    r
}

/// The inner products uᵢ·wⱼ of the chunk's steps into this unit's tile of
/// `acc` (rows i, columns j; 0 past `valid`), with uᵢ the rows of `u_src`
/// and wⱼ those of `w_src` (both (batch, L, ·, F) with `features` along the
/// last axis, at `u_base` / `w_base` for the chunk's first step).
#[cube]
#[allow(clippy::too_many_arguments)]
fn inner_products<F: Float>(
    u_src: &Tensor<F>,
    u_base: usize,
    w_src: &Tensor<F>,
    w_base: usize,
    features: usize,
    valid: usize,
    cum: &SharedMemory<f32>,
    st_a: &mut SharedMemory<f32>,
    st_b: &mut SharedMemory<f32>,
    acc: &mut Array<f32>,
    av: &mut Array<f32>,
) {
    let u_t = u_src.stride(1);
    let u_f = u_src.stride(u_src.rank() - 1);
    let w_t = w_src.stride(1);
    let w_f = w_src.stride(w_src.rank() - 1);
    zero_tile(acc);
    let mut f0 = 0;
    while f0 < features {
        let lim = features - f0;
        stage::<F>(
            u_src,
            u_base + f0 * u_f,
            u_t,
            u_f,
            valid,
            lim,
            st_a,
            cum,
            0,
            true,
            SCALE_NONE,
        );
        stage::<F>(
            w_src,
            w_base + f0 * w_f,
            w_t,
            w_f,
            valid,
            lim,
            st_b,
            cum,
            0,
            true,
            SCALE_NONE,
        );
        sync_cube();
        tile_mma(st_a, 0, 1usize, PAD, st_b, acc, av);
        sync_cube();
        f0 += SLICE;
    }
}

/// M[i][j] = acc(i, j)·e^{cᵢ − cⱼ} for j ≤ i < `valid` (else 0), from this
/// unit's tile of inner products, into `m` (STEPS × PAD).
#[cube]
fn apply_decay(acc: &Array<f32>, valid: usize, cum: &SharedMemory<f32>, m: &mut SharedMemory<f32>) {
    let row = UNIT_POS_Y as usize;
    let col = UNIT_POS_X as usize;
    #[unroll]
    for i in 0..TILE {
        #[unroll]
        for j in 0..TILE {
            let (r, c) = (row + EDGE * i, col + EDGE * j);
            let mut v = 0.0f32;
            if c <= r && r < valid {
                v = acc[i * TILE + j] * (cum[r] - cum[c]).exp();
            }
            m[r * PAD + c] = v;
        }
    }
    sync_cube();
}

/// The chunk's decay-weighted products M[i][j] = (Cᵢ·Bⱼ)·e^{cᵢ − cⱼ} into
/// `m`, from the group's inner products in `cb` (batch, chunks, G, STEPS,
/// STEPS) at `base`.
#[cube]
fn decay_products_of(
    cb: &Tensor<f32>,
    base: usize,
    valid: usize,
    cum: &SharedMemory<f32>,
    m: &mut SharedMemory<f32>,
    acc: &mut Array<f32>,
) {
    let row = UNIT_POS_Y as usize;
    let col = UNIT_POS_X as usize;
    #[unroll]
    for i in 0..TILE {
        #[unroll]
        for j in 0..TILE {
            acc[i * TILE + j] = cb[base + (row + EDGE * i) * STEPS + col + EDGE * j];
        }
    }
    apply_decay(acc, valid, cum, m);
}

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
    let mut st_a = SharedMemory::<f32>::new(SLICE * PAD);
    let mut st_b = SharedMemory::<f32>::new(SLICE * PAD);
    let mut acc = Array::<f32>::new(TILE * TILE);
    let mut av = Array::<f32>::new(TILE);
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
        cm, c_base, bm, b_base, n_dim, valid, &unscaled, &mut st_a, &mut st_b, &mut acc, &mut av,
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
    let mut st_a = SharedMemory::<f32>::new(SLICE * PAD);
    let mut st_b = SharedMemory::<f32>::new(SLICE * PAD);
    let mut acc = Array::<f32>::new(TILE * TILE);
    let mut av = Array::<f32>::new(TILE);
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
        tile_mma(&st_a, 0, 1usize, PAD, &st_b, &mut acc, &mut av);
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
    let mut st_a = SharedMemory::<f32>::new(SLICE * PAD);
    let mut st_b = SharedMemory::<f32>::new(SLICE * PAD);
    let mut m = SharedMemory::<f32>::new(STEPS * PAD);
    let mut acc = Array::<f32>::new(TILE * TILE);
    let mut av = Array::<f32>::new(TILE);
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
    decay_products_of(cb, cb_base, valid, &cum, &mut m, &mut acc);
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
            &mut av,
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

/// One (STEPS × 64) block of a chunk's outputs into `acc`: with M the
/// chunk's decay products,
/// - forward: Σ_j M[i][j]·v_j[p] + e^{cᵢ} Σ_n wᵢ[n]·S[p][n]
///   (v = x, w = C, S = entering state): y;
/// - `transposed`: Σ_{s} M[s][i]·v_s[p] + e^{c_end − cᵢ} Σ_n wᵢ[n]·S[p][n]
///   (v = ∂y, w = B, S = arriving gradient state): ∂x.
///
/// `v_base` is v at (chunk start, p0); `w_base` w at the chunk start;
/// `s_base` S at (p0, 0) with rows of `n_dim`; `p_lim` = P − p0.
#[cube]
#[allow(clippy::too_many_arguments)]
fn chunk_output_block<F: Float>(
    v: &Tensor<F>,
    v_base: usize,
    w: &Tensor<F>,
    w_base: usize,
    s: &Tensor<f32>,
    s_base: usize,
    p_lim: usize,
    n_dim: usize,
    valid: usize,
    cum: &SharedMemory<f32>,
    m: &SharedMemory<f32>,
    st_a: &mut SharedMemory<f32>,
    st_b: &mut SharedMemory<f32>,
    acc: &mut Array<f32>,
    av: &mut Array<f32>,
    #[comptime] transposed: bool,
) {
    zero_tile(acc);
    let v_t = v.stride(1);
    let v_p = v.stride(v.rank() - 1);
    let w_t = w.stride(1);
    let w_n = w.stride(w.rank() - 1);
    // Σ_j M·v over steps, SLICE at a time: B(k = step, n = p).
    let mut s0 = 0;
    while s0 < STEPS {
        let lim = remaining(valid, s0);
        stage::<F>(
            v,
            v_base + s0 * v_t,
            v_p,
            v_t,
            p_lim,
            lim,
            st_b,
            cum,
            s0,
            false,
            SCALE_NONE,
        );
        sync_cube();
        if transposed {
            // A(m = i, k = s) = M[s0 + k][i].
            tile_mma(m, s0 * PAD, 1usize, PAD, st_b, acc, av);
        } else {
            // A(m = i, k = j) = M[i][s0 + k].
            tile_mma(m, s0, PAD, 1usize, st_b, acc, av);
        }
        sync_cube();
        s0 += SLICE;
    }
    // The carried state: A(m = i, k = n) = scaled wᵢ[n], B(k = n, n = p) = S[p][n].
    let mut n0 = 0;
    while n0 < n_dim {
        let lim = n_dim - n0;
        if transposed {
            stage::<F>(
                w,
                w_base + n0 * w_n,
                w_t,
                w_n,
                valid,
                lim,
                st_a,
                cum,
                0,
                true,
                SCALE_TO_END,
            );
        } else {
            stage::<F>(
                w,
                w_base + n0 * w_n,
                w_t,
                w_n,
                valid,
                lim,
                st_a,
                cum,
                0,
                true,
                SCALE_FROM_START,
            );
        }
        stage::<f32>(
            s,
            s_base + n0,
            n_dim,
            1,
            p_lim,
            lim,
            st_b,
            cum,
            0,
            true,
            SCALE_NONE,
        );
        sync_cube();
        tile_mma(st_a, 0, 1usize, PAD, st_b, acc, av);
        sync_cube();
        n0 += SLICE;
    }
}

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
    let mut st_a = SharedMemory::<f32>::new(SLICE * PAD);
    let mut st_b = SharedMemory::<f32>::new(SLICE * PAD);
    let mut m = SharedMemory::<f32>::new(STEPS * PAD);
    let mut partial = SharedMemory::<f32>::new(STEPS * (EDGE + 1));
    let mut acc = Array::<f32>::new(TILE * TILE);
    let mut grad = Array::<f32>::new(TILE * TILE);
    let mut av = Array::<f32>::new(TILE);
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
    decay_products_of(cb, cb_base, valid, &cum, &mut m, &mut acc);
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
            &m,
            &mut st_a,
            &mut st_b,
            &mut acc,
            &mut av,
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
            &m,
            &mut st_a,
            &mut st_b,
            &mut grad,
            &mut av,
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
    let mut st_a = SharedMemory::<f32>::new(SLICE * PAD);
    let mut st_b = SharedMemory::<f32>::new(SLICE * PAD);
    let mut dw = SharedMemory::<f32>::new(STEPS * PAD);
    let mut acc = Array::<f32>::new(TILE * TILE);
    let mut acc_b = Array::<f32>::new(TILE * TILE);
    let mut acc_c = Array::<f32>::new(TILE * TILE);
    let mut av = Array::<f32>::new(TILE);
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
            dy, dy_base, x, x_base, p_dim, valid, &cum, &mut st_a, &mut st_b, &mut acc, &mut av,
        );
        apply_decay(&acc, valid, &cum, &mut dw);
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
            tile_mma(&dw, s0 * PAD, 1usize, PAD, &st_a, &mut acc_b, &mut av);
            tile_mma(&dw, s0, PAD, 1usize, &st_b, &mut acc_c, &mut av);
            sync_cube();
            s0 += SLICE;
        }
        // The carried states, SLICE of P at a time: B(k = p, n) = R[p][n] / H[p][n].
        let state_base = ((batch * chunks + k) * heads + h) * p_dim * n_dim + n0;
        let mut q0 = 0;
        while q0 < p_dim {
            let lim = p_dim - q0;
            stage::<F>(
                x,
                x_base + q0 * x.stride(3),
                x.stride(1),
                x.stride(3),
                valid,
                lim,
                &mut st_a,
                &cum,
                0,
                true,
                SCALE_TO_END,
            );
            stage::<f32>(
                arriving,
                state_base + q0 * n_dim,
                1,
                n_dim,
                n_lim,
                lim,
                &mut st_b,
                &cum,
                0,
                true,
                SCALE_NONE,
            );
            sync_cube();
            tile_mma(&st_a, 0, 1usize, PAD, &st_b, &mut acc_b, &mut av);
            sync_cube();
            stage::<F>(
                dy,
                dy_base + q0 * dy.stride(3),
                dy.stride(1),
                dy.stride(3),
                valid,
                lim,
                &mut st_a,
                &cum,
                0,
                true,
                SCALE_FROM_START,
            );
            stage::<f32>(
                entering,
                state_base + q0 * n_dim,
                1,
                n_dim,
                n_lim,
                lim,
                &mut st_b,
                &cum,
                0,
                true,
                SCALE_NONE,
            );
            sync_cube();
            tile_mma(&st_a, 0, 1usize, PAD, &st_b, &mut acc_c, &mut av);
            sync_cube();
            q0 += SLICE;
        }
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
