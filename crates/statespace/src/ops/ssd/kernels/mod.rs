//! CubeCL kernels of SSD by the chunked algorithm, forward
//! ([`forward`]) and backward ([`backward`]), in f32 arithmetic whatever
//! the storage type `F`; this module holds the device helpers both share.
//!
//! The sequence is cut into chunks of [`STEPS`] steps (an internal choice:
//! the result does not depend on it). Per (batch, head) with cumulative
//! decays cᵢ = a₀ + … + aᵢ inside a chunk:
//! - chunk states S = Σⱼ e^{c_end − cⱼ} xⱼ ⊗ Bⱼ ([`forward::ssd_chunk_states`]);
//! - the states entering each chunk, H_{k+1} = e^{c_end,k} H_k + S_k, one
//!   unit per state element walking the chunks ([`forward::ssd_state_pass`]);
//! - outputs yᵢ = Σ_{j≤i} e^{cᵢ − cⱼ} (Cᵢ·Bⱼ) xⱼ + e^{cᵢ} H Cᵢ
//!   ([`forward::ssd_chunk_outputs`]), with the inner products Cᵢ·Bⱼ formed
//!   once per group ([`forward::ssd_chunk_cb`]).
//!
//! The backward runs the same three passes in reverse on (∂y, C) to get the
//! gradient state R arriving at each chunk's end, then ∂x (the transposed
//! output pass), ∂B and ∂C per group summed over its heads
//! ([`backward::ssd_chunk_bc_grads`]), and ∂a from ∂cᵢ = ∂yᵢ·yᵢ − xᵢ·∂xᵢ
//! (plus ⟨∂h_final, h_final⟩ at the last step) summed from each step to the
//! end (suffix sums in [`backward::ssd_chunk_backward`],
//! [`backward::ssd_decay_carry`] and [`backward::ssd_decay_grad`]).
//!
//! Every product is a (64 × 64) output block of a cube of 16 × 16 units,
//! each unit a 4 × 4 register tile (rows y + 16·i, columns x + 16·j), with
//! its operands staged in shared memory [`SLICE`] rows of the inner
//! dimension at a time, as [`Quad`]s: the four values a unit needs of one
//! inner index are one 16-byte load. Shapes: x, ∂y, ∂x
//! (batch, L, H, P); a, ∂a (batch, L, H); B, C, ∂B, ∂C (batch, L, G, N);
//! states (batch, chunks, H, P, N) and decays (batch, H, chunks), f32,
//! packed. Inputs are read through their strides. Indices are in bounds by
//! construction (`ssd()` validated the shapes; the launcher reads the sizes
//! off the inputs and checks they fit 32-bit indices), so the kernels
//! launch unchecked.

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

pub use super::plan::STEPS;

pub mod backward;
pub mod forward;

/// Edge of the output block of one cube.
pub const BLOCK: usize = 64;
/// Units along each edge of a cube (16 × 16 = 256 units).
pub const EDGE: usize = 16;
/// Units per cube.
pub const UNITS: usize = EDGE * EDGE;
/// Rows of the inner dimension staged at a time.
const SLICE: usize = 32;
/// Edge of each unit's register tile.
const TILE: usize = BLOCK / EDGE;
/// Four staged values of one inner index: those of rows (or columns)
/// m, m + 16, m + 32 and m + 48 of a block, the values one unit multiplies.
/// A staged operand A(m, k) lives at quad k·[`PAD`] + m % 16, lane m / 16.
type Quad = Vector<f32, Const<TILE>>;
/// Row stride of a staged slice or block, in quads: 16 and one of padding,
/// so that units storing quads of consecutive inner indices (68 floats
/// apart) hit distinct banks.
const PAD: usize = EDGE + 1;

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
    // Warps are runs of PLANE_DIM consecutive units, so units 0 .. STEPS
    // fill whole warps: each forms the inclusive sums of its steps by
    // shuffles, and the later warps add the totals of those before them.
    // The lane is taken from UNIT_POS: CubeCL's `plane_inclusive_sum` and
    // UNIT_POS_PLANE derive it from UNIT_POS_X, wrong in a two-dimensional
    // cube (its upper half-warps skipped the lower halves' sums).
    let width = PLANE_DIM as usize;
    if u < STEPS {
        let mut v = 0.0f32;
        if t0 + u < len {
            v = f32::cast_from(
                a[batch * a.stride(0) + (t0 + u) * a.stride(1) + head * a.stride(2)],
            );
        }
        let lane = u % width;
        let mut offset = 1;
        while offset < width {
            let t = plane_shuffle_up(v, offset as u32);
            if lane >= offset {
                v += t;
            }
            offset *= 2;
        }
        values[u] = v;
    }
    sync_cube();
    if u < STEPS {
        let mut s = values[u];
        for w in 0..u / width {
            s += values[(w + 1) * width - 1];
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

/// Quads one unit stages of a (BLOCK × SLICE) operand.
const QUADS_PER_UNIT: usize = BLOCK * SLICE / (TILE * UNITS);

/// The first row m and the inner index k of this unit's `i`-th quad of a
/// staged (BLOCK × SLICE) view with strides `r_stride` and `k_stride`:
/// consecutive units step along whichever index is contiguous in memory.
#[cube]
fn quad_slot(#[comptime] i: usize, r_stride: usize, k_stride: usize) -> (usize, usize) {
    let f = UNIT_POS as usize + i * UNITS;
    let mut m = f % EDGE;
    let mut k = f / EDGE;
    if r_stride > k_stride {
        m = f / SLICE;
        k = f % SLICE;
    }
    (m, k)
}

/// [`stage`]'s global reads without its scaling or its stores: this unit's
/// quads of the (BLOCK × SLICE) view into `regs` (QUADS_PER_UNIT · TILE
/// values), so that they are in flight while the previous slice multiplies;
/// [`put`] stores them.
#[cube]
#[allow(clippy::too_many_arguments)]
fn gather<F: Float>(
    src: &Tensor<F>,
    base: usize,
    r_stride: usize,
    k_stride: usize,
    r_lim: usize,
    k_lim: usize,
    regs: &mut Array<f32>,
) {
    #[unroll]
    for i in 0..QUADS_PER_UNIT {
        let (m, k) = quad_slot(i, r_stride, k_stride);
        #[unroll]
        for c in 0..TILE {
            let r = m + EDGE * c;
            let mut v = 0.0f32;
            if k < k_lim && r < r_lim {
                v = f32::cast_from(src[base + r * r_stride + k * k_stride]);
            }
            regs[i * TILE + c] = v;
        }
    }
}

/// Stores the quads [`gather`] read (same strides) from quad `st_base` of `st` on.
#[cube]
fn put(
    regs: &Array<f32>,
    r_stride: usize,
    k_stride: usize,
    st: &mut SharedMemory<Quad>,
    st_base: usize,
) {
    #[unroll]
    for i in 0..QUADS_PER_UNIT {
        let (m, k) = quad_slot(i, r_stride, k_stride);
        let mut q = Quad::new(0.0f32);
        #[unroll]
        for c in 0..TILE {
            q[c] = regs[i * TILE + c];
        }
        st[st_base + k * PAD + m] = q;
    }
}

/// Stages a (BLOCK × SLICE) view of `src` as quads: element (r, k) at
/// `base + r·r_stride + k·k_stride` goes to quad k·PAD + r % EDGE, lane
/// r / EDGE; zero where r ≥ `r_lim` or k ≥ `k_lim`, scaled along its time
/// index (r when `time_is_row`, else k, offset by `time_base` in the
/// chunk). Each unit gathers whole quads; global reads step along the
/// contiguous index, and the quads stored by a warp fall in distinct banks.
#[cube]
#[allow(clippy::too_many_arguments)]
fn stage<F: Float>(
    src: &Tensor<F>,
    base: usize,
    r_stride: usize,
    k_stride: usize,
    r_lim: usize,
    k_lim: usize,
    st: &mut SharedMemory<Quad>,
    cum: &SharedMemory<f32>,
    time_base: usize,
    #[comptime] time_is_row: bool,
    #[comptime] scale: u32,
) {
    #[unroll]
    for i in 0..QUADS_PER_UNIT {
        let (m, k) = quad_slot(i, r_stride, k_stride);
        let mut q = Quad::new(0.0f32);
        if k < k_lim {
            let mut k_scale = 1.0f32;
            if !time_is_row && scale != SCALE_NONE {
                k_scale = time_scale(cum, time_base + k, scale);
            }
            #[unroll]
            for c in 0..TILE {
                let r = m + EDGE * c;
                let mut v = 0.0f32;
                if r < r_lim {
                    v = f32::cast_from(src[base + r * r_stride + k * k_stride]);
                    if scale != SCALE_NONE {
                        if time_is_row {
                            v *= time_scale(cum, time_base + r, scale);
                        } else {
                            v *= k_scale;
                        }
                    }
                }
                q[c] = v;
            }
        }
        st[k * PAD + m] = q;
    }
}

/// acc[i·TILE + j] += Σ_k A(m, k)·B(k, n) over k < SLICE, for this unit's
/// rows m = y + EDGE·i and columns n = x + EDGE·j, with A staged from quad
/// `a_base` on and B from quad `b_base` on (see [`stage`]): two quad loads
/// per inner index for sixteen multiply-adds.
#[cube]
fn tile_mma(
    a: &SharedMemory<Quad>,
    a_base: usize,
    b: &SharedMemory<Quad>,
    b_base: usize,
    acc: &mut Array<f32>,
) {
    let row = UNIT_POS_Y as usize;
    let col = UNIT_POS_X as usize;
    #[unroll]
    for k in 0..SLICE {
        let av = a[a_base + k * PAD + row];
        let bv = b[b_base + k * PAD + col];
        #[unroll]
        for i in 0..TILE {
            #[unroll]
            for j in 0..TILE {
                acc[i * TILE + j] += av[i] * bv[j];
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
    st_a: &mut SharedMemory<Quad>,
    st_b: &mut SharedMemory<Quad>,
    acc: &mut Array<f32>,
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
        tile_mma(st_a, 0, st_b, 0, acc);
        sync_cube();
        f0 += SLICE;
    }
}

/// M[i][j] = acc(i, j)·e^{cᵢ − cⱼ} for j ≤ i < `valid` (else 0), in place
/// in this unit's tile of inner products.
#[cube]
fn apply_decay(acc: &mut Array<f32>, valid: usize, cum: &SharedMemory<f32>) {
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
            acc[i * TILE + j] = v;
        }
    }
}

/// Stores this unit's tile of a (STEPS × STEPS) matrix M as the staged
/// operand A(m = i, k = j) = M[i][j] of [`tile_mma`] (`m_by_cols`) and/or
/// A(m = j, k = i) = M[i][j] (`m_by_rows`), then syncs the cube.
#[cube]
fn store_tile(
    acc: &Array<f32>,
    m_by_cols: &mut SharedMemory<Quad>,
    m_by_rows: &mut SharedMemory<Quad>,
    #[comptime] by_cols: bool,
    #[comptime] by_rows: bool,
) {
    let row = UNIT_POS_Y as usize;
    let col = UNIT_POS_X as usize;
    if by_cols {
        #[unroll]
        for j in 0..TILE {
            let mut q = Quad::new(0.0f32);
            #[unroll]
            for i in 0..TILE {
                q[i] = acc[i * TILE + j];
            }
            m_by_cols[(col + EDGE * j) * PAD + row] = q;
        }
    }
    if by_rows {
        #[unroll]
        for i in 0..TILE {
            let mut q = Quad::new(0.0f32);
            #[unroll]
            for j in 0..TILE {
                q[j] = acc[i * TILE + j];
            }
            m_by_rows[(row + EDGE * i) * PAD + col] = q;
        }
    }
    sync_cube();
}

/// The chunk's decay-weighted products M[i][j] = (Cᵢ·Bⱼ)·e^{cᵢ − cⱼ},
/// from the group's inner products in `cb` (batch, chunks, G, STEPS,
/// STEPS) at `base`, stored as [`store_tile`] says.
#[cube]
#[allow(clippy::too_many_arguments)]
fn decay_products_of(
    cb: &Tensor<f32>,
    base: usize,
    valid: usize,
    cum: &SharedMemory<f32>,
    m_by_cols: &mut SharedMemory<Quad>,
    m_by_rows: &mut SharedMemory<Quad>,
    acc: &mut Array<f32>,
    #[comptime] by_cols: bool,
    #[comptime] by_rows: bool,
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
    apply_decay(acc, valid, cum);
    store_tile(acc, m_by_cols, m_by_rows, by_cols, by_rows);
}

/// One (STEPS × 64) block of a chunk's outputs into `acc`: with M the
/// chunk's decay products,
/// - forward: Σ_j M[i][j]·v_j[p] + e^{cᵢ} Σ_n wᵢ[n]·S[p][n]
///   (v = x, w = C, S = entering state): y;
/// - `transposed`: Σ_{s} M[s][i]·v_s[p] + e^{c_end − cᵢ} Σ_n wᵢ[n]·S[p][n]
///   (v = ∂y, w = B, S = arriving gradient state): ∂x.
///
/// The carried-state term is formed first, unscaled, and its rows then
/// scaled (four exponentials a unit instead of one per staged value). The
/// slices of both products form one pipeline over two staging buffers
/// (`st_a`, `st_b`: 2 · SLICE · PAD quads each): each unit reads its quads
/// of the next slice before the current one multiplies, and stores them
/// into the other buffer after, with one barrier a slice.
/// `m` holds M as [`store_tile`] stores it by columns, or by rows when
/// `transposed`. `v_base` is v at (chunk start, p0); `w_base` w at the
/// chunk start; `s_base` S at (p0, 0) with rows of `n_dim`; `p_lim` =
/// P − p0.
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
    m: &SharedMemory<Quad>,
    st_a: &mut SharedMemory<Quad>,
    st_b: &mut SharedMemory<Quad>,
    acc: &mut Array<f32>,
    #[comptime] transposed: bool,
) {
    zero_tile(acc);
    let mut ra = Array::<f32>::new(QUADS_PER_UNIT * TILE);
    let mut rb = Array::<f32>::new(QUADS_PER_UNIT * TILE);
    let v_t = v.stride(1);
    let v_p = v.stride(v.rank() - 1);
    let w_t = w.stride(1);
    let w_n = w.stride(w.rank() - 1);
    // Slices 0 .. state_slices: the carried state, A(m = i, k = n) = wᵢ[n],
    // B(k = n, n = p) = S[p][n]; then Σ_j M·v over steps, B(k = step, n = p)
    // with A(m = i, k) = M[i][s0 + k], or M[s0 + k][i] when `transposed`.
    let state_slices = n_dim.div_ceil(SLICE);
    let slices = state_slices + STEPS / SLICE;
    let buffer = SLICE * PAD;
    output_slice_gather::<F>(
        v,
        v_base,
        v_t,
        v_p,
        w,
        w_base,
        w_t,
        w_n,
        s,
        s_base,
        n_dim,
        p_lim,
        valid,
        state_slices,
        0,
        &mut ra,
        &mut rb,
    );
    output_slice_put(
        &ra,
        &rb,
        v_t,
        v_p,
        w_t,
        w_n,
        n_dim,
        state_slices,
        0,
        st_a,
        st_b,
        0,
    );
    sync_cube();
    for i in 0..slices {
        let at = (i % 2) * buffer;
        let next = i + 1 < slices;
        if next {
            output_slice_gather::<F>(
                v,
                v_base,
                v_t,
                v_p,
                w,
                w_base,
                w_t,
                w_n,
                s,
                s_base,
                n_dim,
                p_lim,
                valid,
                state_slices,
                i + 1,
                &mut ra,
                &mut rb,
            );
        }
        if i < state_slices {
            tile_mma(st_a, at, st_b, at, acc);
        } else {
            if i == state_slices {
                if transposed {
                    scale_rows(acc, cum, SCALE_TO_END);
                } else {
                    scale_rows(acc, cum, SCALE_FROM_START);
                }
            }
            tile_mma(m, (i - state_slices) * SLICE * PAD, st_b, at, acc);
        }
        if next {
            output_slice_put(
                &ra,
                &rb,
                v_t,
                v_p,
                w_t,
                w_n,
                n_dim,
                state_slices,
                i + 1,
                st_a,
                st_b,
                buffer - at,
            );
        }
        sync_cube();
    }
}

/// This unit's global reads of slice `i` of [`chunk_output_block`]'s
/// pipeline: for a carried-state slice, w into `ra` and S into `rb`; for a
/// step slice, v into `rb`.
#[cube]
#[allow(clippy::too_many_arguments)]
fn output_slice_gather<F: Float>(
    v: &Tensor<F>,
    v_base: usize,
    v_t: usize,
    v_p: usize,
    w: &Tensor<F>,
    w_base: usize,
    w_t: usize,
    w_n: usize,
    s: &Tensor<f32>,
    s_base: usize,
    n_dim: usize,
    p_lim: usize,
    valid: usize,
    state_slices: usize,
    i: usize,
    ra: &mut Array<f32>,
    rb: &mut Array<f32>,
) {
    if i < state_slices {
        let n0 = i * SLICE;
        gather::<F>(w, w_base + n0 * w_n, w_t, w_n, valid, n_dim - n0, ra);
        gather::<f32>(s, s_base + n0, n_dim, 1, p_lim, n_dim - n0, rb);
    } else {
        let s0 = (i - state_slices) * SLICE;
        gather::<F>(
            v,
            v_base + s0 * v_t,
            v_p,
            v_t,
            p_lim,
            remaining(valid, s0),
            rb,
        );
    }
}

/// Stores what [`output_slice_gather`] read of slice `i` at quad `at` of
/// the staging buffers.
#[cube]
#[allow(clippy::too_many_arguments)]
fn output_slice_put(
    ra: &Array<f32>,
    rb: &Array<f32>,
    v_t: usize,
    v_p: usize,
    w_t: usize,
    w_n: usize,
    n_dim: usize,
    state_slices: usize,
    i: usize,
    st_a: &mut SharedMemory<Quad>,
    st_b: &mut SharedMemory<Quad>,
    at: usize,
) {
    if i < state_slices {
        put(ra, w_t, w_n, st_a, at);
        put(rb, n_dim, 1, st_b, at);
    } else {
        put(rb, v_p, v_t, st_b, at);
    }
}

/// Scales row i of this unit's tile (chunk step row + EDGE·i) by its time
/// scale (see [`time_scale`]).
#[cube]
fn scale_rows(acc: &mut Array<f32>, cum: &SharedMemory<f32>, #[comptime] scale: u32) {
    let row = UNIT_POS_Y as usize;
    #[unroll]
    for i in 0..TILE {
        let f = time_scale(cum, row + EDGE * i, scale);
        #[unroll]
        for j in 0..TILE {
            acc[i * TILE + j] *= f;
        }
    }
}

/// acc[e] += other[e]·(the time scale of e's row): a carried-state term
/// formed unscaled in `other` (see [`scale_rows`]).
#[cube]
fn add_scaled_rows(
    acc: &mut Array<f32>,
    other: &Array<f32>,
    cum: &SharedMemory<f32>,
    #[comptime] scale: u32,
) {
    let row = UNIT_POS_Y as usize;
    #[unroll]
    for i in 0..TILE {
        let f = time_scale(cum, row + EDGE * i, scale);
        #[unroll]
        for j in 0..TILE {
            acc[i * TILE + j] += other[i * TILE + j] * f;
        }
    }
}
