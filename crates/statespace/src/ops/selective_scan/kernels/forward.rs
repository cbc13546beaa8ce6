//! CubeCL kernels of the selective scan's forward direction: the output
//! pass, the checkpoint pass of the backward, and the segment summaries
//! that let long sequences scan in parallel.
//!
//! One plane (warp, 32 lanes) scans one channel of one batch row; a cube
//! holds `warps` channels of one group. Time is walked in chunks of
//! 32·`items` steps: lane l owns the `items` consecutive steps starting at
//! l·`items` of the chunk. For each state n, a lane folds its steps into one
//! affine map x ↦ a·x + b, the plane scans those maps across lanes with
//! shuffles (Blelloch's scan, as mamba_ssm's kernels), and each lane then
//! replays its steps from its start state, accumulating y in registers.
//! B and C of the chunk are staged once per cube in shared memory (shared by
//! its channels); u, δ, z and out go through a per-plane staging area so
//! that global accesses stay coalesced. Arithmetic is f32 whatever the
//! storage types `F` (activations) and `W` (parameters).
//!
//! Shapes: u, δ, z, out (batch, D, L); A (D, N); B, C (batch, G, N, L);
//! D, δ_bias (D); initial and last state (batch, D, N); segment starts,
//! ends and decays (batch, S, D, N) and checkpoints (batch, tiles, D, N) in
//! f32, packed. Indices are in bounds by construction (the launcher checks
//! shapes), so the kernels launch unchecked.

use cubecl::prelude::*;

use crate::ops::selective_scan::plan::{ChunkGeometry, LANES, ScanFlags};

/// The float modes of the kernels: hardware exp/log and fast division (as
/// mamba_ssm's `--use_fast_math`); inputs are finite.
pub fn fast_math() -> cubecl::ir::features::EnumSet<FastMath> {
    FastMath::ReducedPrecision
        | FastMath::NotNaN
        | FastMath::NotInf
        | FastMath::AllowReciprocal
        | FastMath::UnsignedZero
        | FastMath::AllowContraction
}

/// softplus(r) = log(1 + eˣ), linear above 20 as in mamba_ssm.
#[cube]
pub(super) fn softplus(r: f32) -> f32 {
    let mut out = r;
    if r <= 20.0 {
        out = r.exp().log1p();
    }
    out
}

/// What a launch computes and writes, fixed per compiled kernel.
#[derive(CubeType, Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ChunkPass {
    /// out (batch, D, L) and, on the last segment, the last state.
    pub output: bool,
    /// The state at the start of every chunk, (batch, chunks, D, N).
    pub checkpoints: bool,
    /// Per segment, the end state from a zero start and the decay applied
    /// to its start state (the segment-summary pass).
    pub ends: bool,
}

/// Where step `step` of a chunk sits in a staging row: lane l's `items`
/// consecutive steps at l·(items + 1) … l·(items + 1) + items − 1, one
/// padding slot per lane against bank conflicts.
#[cube]
pub(super) fn staged_slot(step: usize, #[comptime] items: usize) -> usize {
    (step / items) * (items + 1) + step % items
}

/// Loads the chunk's steps `t0..t0 + LANES·items` of one channel (zero past
/// `end`) into `items` per lane, lane l taking steps l·items.., through
/// the plane's staging area so that the global reads are coalesced.
#[cube]
#[allow(clippy::too_many_arguments)]
pub(super) fn load_items<F: Float>(
    src: &Tensor<F>,
    base: usize,
    t0: usize,
    end: usize,
    stage: &mut SharedMemory<f32>,
    region: usize,
    lane: usize,
    values: &mut Array<f32>,
    #[comptime] items: usize,
) {
    let stride = src.stride(src.rank() - 1);
    sync_plane();
    #[unroll]
    for k in 0..items {
        let j = lane + LANES * k;
        let mut v = 0.0f32;
        if t0 + j < end {
            v = f32::cast_from(src[base + (t0 + j) * stride]);
        }
        stage[region + staged_slot(j, items)] = v;
    }
    sync_plane();
    #[unroll]
    for i in 0..items {
        values[i] = stage[region + lane * (items + 1) + i];
    }
}

/// The inverse of [`load_items`]: writes each lane's `items` values to the
/// chunk's steps before `end`.
#[cube]
#[allow(clippy::too_many_arguments)]
pub(super) fn store_items<F: Float>(
    dst: &mut Tensor<F>,
    base: usize,
    t0: usize,
    end: usize,
    stage: &mut SharedMemory<f32>,
    region: usize,
    lane: usize,
    values: &Array<f32>,
    #[comptime] items: usize,
) {
    let stride = dst.stride(dst.rank() - 1);
    sync_plane();
    #[unroll]
    for i in 0..items {
        stage[region + lane * (items + 1) + i] = values[i];
    }
    sync_plane();
    #[unroll]
    for k in 0..items {
        let j = lane + LANES * k;
        if t0 + j < end {
            dst[base + (t0 + j) * stride] = F::cast_from(stage[region + staged_slot(j, items)]);
        }
    }
}

/// Stages B (or C) of states `n0..n0 + state_block` over the chunk into
/// shared memory, laid out per lane as [`load_items`] reads it (zero past
/// `end` and past N). Every unit of the cube takes part.
#[cube]
#[allow(clippy::too_many_arguments)]
pub(super) fn stage_states<F: Float>(
    src: &Tensor<F>,
    batch: usize,
    g: usize,
    n0: usize,
    t0: usize,
    end: usize,
    stage: &mut SharedMemory<f32>,
    #[comptime] geo: ChunkGeometry,
) {
    let items = geo.items;
    let chunk = LANES * items;
    let row = LANES * (items + 1);
    let threads = LANES * geo.warps;
    let base = batch * src.stride(0) + g * src.stride(1);
    let mut j = UNIT_POS as usize;
    while j < geo.state_block * chunk {
        let nn = j / chunk;
        let tt = j % chunk;
        let mut v = 0.0f32;
        if n0 + nn < geo.n_state && t0 + tt < end {
            v = f32::cast_from(src[base + (n0 + nn) * src.stride(2) + (t0 + tt) * src.stride(3)]);
        }
        stage[nn * row + staged_slot(tt, items)] = v;
        j += threads;
    }
}

/// The plane-wide scan of the lanes' affine maps x ↦ a·x + b: returns
/// what enters this lane given what enters the plane, `carry`. In time
/// order (`reverse` false) the maps compose from lane 0 up and the result
/// is the lane's start state; in reverse they compose from the last lane
/// down and `carry` enters after it.
#[cube]
pub(super) fn lane_entry(
    a: f32,
    b: f32,
    carry: f32,
    lane: usize,
    #[comptime] reverse: bool,
) -> f32 {
    let mut pa = a;
    let mut pb = b;
    #[unroll]
    for level in 0..5u32 {
        let offset = 1u32 << level;
        let qa = if reverse {
            plane_shuffle_down(pa, offset)
        } else {
            plane_shuffle_up(pa, offset)
        };
        let qb = if reverse {
            plane_shuffle_down(pb, offset)
        } else {
            plane_shuffle_up(pb, offset)
        };
        let has_source = if reverse {
            lane + (offset as usize) < LANES
        } else {
            lane >= offset as usize
        };
        if has_source {
            pb += pa * qb;
            pa *= qa;
        }
    }
    // Exclusive: the maps of the lanes before this one (in scan order).
    let ea = if reverse {
        plane_shuffle_down(pa, 1u32)
    } else {
        plane_shuffle_up(pa, 1u32)
    };
    let eb = if reverse {
        plane_shuffle_down(pb, 1u32)
    } else {
        plane_shuffle_up(pb, 1u32)
    };
    let first = if reverse {
        lane == LANES - 1
    } else {
        lane == 0
    };
    let mut x = carry;
    if !first {
        x = ea * carry + eb;
    }
    x
}

/// A per-channel parameter (D or δ_bias) as f32, zero when absent.
#[cube]
pub(super) fn channel_scalar<W: Float>(t: &Tensor<W>, d: usize, #[comptime] present: bool) -> f32 {
    let mut v = 0.0f32;
    if present {
        v = f32::cast_from(t[d * t.stride(0)]);
    }
    v
}

/// Loads u and δ of the chunk's steps for one channel and forms
/// Δ = softplus(δ + bias) (or δ + bias) and Δ·u; Δ = 0 past `end`, so the
/// state carries through unchanged.
#[cube]
#[allow(clippy::too_many_arguments)]
pub(super) fn load_steps<F: Float>(
    u: &Tensor<F>,
    delta: &Tensor<F>,
    batch: usize,
    d: usize,
    t0: usize,
    end: usize,
    stage: &mut SharedMemory<f32>,
    region: usize,
    lane: usize,
    bias: f32,
    uu: &mut Array<f32>,
    dt: &mut Array<f32>,
    dtu: &mut Array<f32>,
    #[comptime] softplus_delta: bool,
    #[comptime] items: usize,
) {
    let row_u = batch * u.stride(0) + d * u.stride(1);
    let row_delta = batch * delta.stride(0) + d * delta.stride(1);
    load_items::<F>(u, row_u, t0, end, stage, region, lane, uu, items);
    load_items::<F>(delta, row_delta, t0, end, stage, region, lane, dt, items);
    #[unroll]
    for i in 0..items {
        let mut v = 0.0f32;
        if t0 + lane * items + i < end {
            v = dt[i] + bias;
            if softplus_delta {
                v = softplus(v);
            }
        }
        dt[i] = v;
        dtu[i] = v * uu[i];
    }
}

/// The forward family of the selective scan (see the module docs); `pass`
/// picks what is written. Segments of `seg_len` steps (grid z) run in
/// parallel: from `starts` (batch, S, D, N) when S > 1 (else from the
/// initial state or zero), or from zero in the `ends` pass, whose grid has
/// S − 1 segments.
#[cube(launch_unchecked, fast_math = fast_math())]
#[allow(clippy::too_many_arguments)]
pub fn scan_chunked<F: Float, W: Float>(
    u: &Tensor<F>,
    delta: &Tensor<F>,
    a: &Tensor<W>,
    b: &Tensor<F>,
    c: &Tensor<F>,
    d_skip: &Tensor<W>,
    z: &Tensor<F>,
    delta_bias: &Tensor<W>,
    init: &Tensor<W>,
    starts: &Tensor<f32>,
    out: &mut Tensor<F>,
    last: &mut Tensor<W>,
    checkpoints: &mut Tensor<f32>,
    ends: &mut Tensor<f32>,
    decays: &mut Tensor<f32>,
    len: u32,
    dim: u32,
    groups: u32,
    seg_len: u32,
    segments: u32,
    #[comptime] flags: ScanFlags,
    #[comptime] geo: ChunkGeometry,
    #[comptime] pass: ChunkPass,
    #[define(F, W)] _dtypes: [StorageType; 2],
) {
    let items = geo.items;
    let chunk = LANES * items;
    let n_state = geo.n_state;
    let block = geo.state_block;
    let n_blocks = n_state.div_ceil(block);
    let padded_n = n_blocks * block;
    let len = len as usize;
    let dim = dim as usize;
    let groups = groups as usize;
    let segments = segments as usize;

    let lane = UNIT_POS_X as usize;
    let w = UNIT_POS_Y as usize;
    let d = CUBE_POS_X as usize * geo.warps + w;
    let batch = CUBE_POS_Y as usize;
    let g = d / (dim / groups);
    let seg = CUBE_POS_Z as usize;
    let seg_start = seg * seg_len as usize;
    let mut seg_end = seg_start + seg_len as usize;
    if seg_end > len {
        seg_end = len;
    }

    let mut s_b = SharedMemory::<f32>::new(block * LANES * (items + 1));
    let mut s_c = SharedMemory::<f32>::new(block * LANES * (items + 1));
    let mut s_io = SharedMemory::<f32>::new(geo.warps * LANES * (items + 1));
    let mut s_carry = SharedMemory::<f32>::new(geo.warps * padded_n);
    let mut s_a = SharedMemory::<f32>::new(geo.warps * padded_n);
    let region = w * LANES * (items + 1);
    let own = w * padded_n;

    let mut n = lane;
    while n < padded_n {
        let mut x = 0.0f32;
        let mut a_n = 0.0f32;
        if n < n_state {
            a_n = f32::cast_from(a[d * a.stride(0) + n * a.stride(1)]);
            if pass.ends {
                x = 0.0;
            } else if segments > 1 {
                x = starts[((batch * segments + seg) * dim + d) * n_state + n];
            } else if flags.has_init {
                x = f32::cast_from(
                    init[batch * init.stride(0) + d * init.stride(1) + n * init.stride(2)],
                );
            }
        }
        s_carry[own + n] = x;
        s_a[own + n] = a_n;
        n += LANES;
    }

    let bias = channel_scalar::<W>(delta_bias, d, flags.has_bias);
    let skip = channel_scalar::<W>(d_skip, d, flags.has_d);
    let all_chunks = len.div_ceil(chunk);
    let mut sum_dt = 0.0f32;

    let mut uu = Array::<f32>::new(items);
    let mut dt = Array::<f32>::new(items);
    let mut dtu = Array::<f32>::new(items);
    let mut y = Array::<f32>::new(items);
    let mut da = Array::<f32>::new(items);
    let mut db = Array::<f32>::new(items);

    let n_chunks = (seg_end - seg_start).div_ceil(chunk);
    for k in 0..n_chunks {
        let t0 = seg_start + k * chunk;
        load_steps::<F>(
            u,
            delta,
            batch,
            d,
            t0,
            seg_end,
            &mut s_io,
            region,
            lane,
            bias,
            &mut uu,
            &mut dt,
            &mut dtu,
            flags.softplus,
            items,
        );
        #[unroll]
        for i in 0..items {
            y[i] = 0.0;
            sum_dt += dt[i];
        }

        for nb in 0..n_blocks {
            let n0 = nb * block;
            sync_cube();
            stage_states::<F>(b, batch, g, n0, t0, seg_end, &mut s_b, geo);
            if pass.output {
                stage_states::<F>(c, batch, g, n0, t0, seg_end, &mut s_c, geo);
            }
            sync_cube();
            #[unroll]
            for nn in 0..block {
                let n = n0 + nn;
                let slot = nn * LANES * (items + 1) + lane * (items + 1);
                let a_n = s_a[own + n];
                let mut pa = 1.0f32;
                let mut pb = 0.0f32;
                #[unroll]
                for i in 0..items {
                    da[i] = (dt[i] * a_n).exp();
                    db[i] = dtu[i] * s_b[slot + i];
                    pb = da[i] * pb + db[i];
                    pa *= da[i];
                }
                let carry = s_carry[own + n];
                let mut x = lane_entry(pa, pb, carry, lane, false);
                if pass.checkpoints && lane == 0 && n < n_state {
                    checkpoints[((batch * all_chunks + t0 / chunk) * dim + d) * n_state + n] = x;
                }
                #[unroll]
                for i in 0..items {
                    x = da[i] * x + db[i];
                    if pass.output {
                        y[i] += x * s_c[slot + i];
                    }
                }
                let end_state = plane_broadcast(x, (LANES - 1) as u32);
                if lane == 0 {
                    s_carry[own + n] = end_state;
                }
            }
        }

        if pass.output {
            if flags.has_d {
                #[unroll]
                for i in 0..items {
                    y[i] += skip * uu[i];
                }
            }
            if flags.has_z {
                let row_z = batch * z.stride(0) + d * z.stride(1);
                load_items::<F>(
                    z, row_z, t0, seg_end, &mut s_io, region, lane, &mut uu, items,
                );
                #[unroll]
                for i in 0..items {
                    let zz = uu[i];
                    y[i] = y[i] * zz / (1.0 + (-zz).exp());
                }
            }
            let row_out = batch * out.stride(0) + d * out.stride(1);
            store_items::<F>(
                out, row_out, t0, seg_end, &mut s_io, region, lane, &y, items,
            );
        }
    }

    sync_plane();
    if pass.output && seg == CUBE_COUNT_Z as usize - 1 {
        let mut n = lane;
        while n < n_state {
            last[batch * last.stride(0) + d * last.stride(1) + n * last.stride(2)] =
                W::cast_from(s_carry[own + n]);
            n += LANES;
        }
    }
    if pass.ends {
        let total_dt = plane_sum(sum_dt);
        let mut n = lane;
        while n < n_state {
            let at = ((batch * segments + seg) * dim + d) * n_state + n;
            ends[at] = s_carry[own + n];
            decays[at] = (total_dt * s_a[own + n]).exp();
            n += LANES;
        }
    }
}

/// The start state of every segment, (batch, S, D, N) in f32, from the
/// initial state (or zero) and the segments' ends and decays: a short
/// sequential pass per state element.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn scan_segment_starts<W: Float>(
    init: &Tensor<W>,
    ends: &Tensor<f32>,
    decays: &Tensor<f32>,
    starts: &mut Tensor<f32>,
    batches: u32,
    dim: u32,
    n_state: u32,
    segments: u32,
    #[comptime] has_init: bool,
    #[define(W)] _dtype: StorageType,
) {
    let (batches, dim, n_state, segments) = (
        batches as usize,
        dim as usize,
        n_state as usize,
        segments as usize,
    );
    let pos = ABSOLUTE_POS;
    if pos >= batches * dim * n_state {
        terminate!();
    }
    let batch = pos / (dim * n_state);
    let dn = pos % (dim * n_state);
    let d = dn / n_state;
    let n = dn % n_state;
    let mut x = 0.0f32;
    if has_init {
        x = f32::cast_from(init[batch * init.stride(0) + d * init.stride(1) + n * init.stride(2)]);
    }
    for seg in 0..segments {
        let at = (batch * segments + seg) * dim * n_state + dn;
        starts[at] = x;
        x = decays[at] * x + ends[at];
    }
}
