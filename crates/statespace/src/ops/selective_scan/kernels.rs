//! CubeCL kernels of the selective scan (forward and backward).
//!
//! One cube handles one batch row and a tile of `d_tile` channels of one
//! group; its `n_state × d_tile` units each own one state element x[d, n].
//! Time is walked in tiles of `tile` steps: the cube stages δ (after bias and
//! softplus), δ·u, u, B and C of the tile in shared memory with coalesced
//! loads, every unit runs its `tile` recurrence steps from there, and sums
//! over the state dimension go through shared memory. Arithmetic is f32
//! whatever the storage type `F` of the activations (f32 or bf16) and `W` of
//! the parameters. Indices are in bounds by construction (the launcher
//! checks shapes), so the kernels launch unchecked.
//!
//! Shapes: u, δ, z, out (batch, D, L); A (D, N); B, C (batch, G, N, L);
//! D, δ_bias (D); initial and last state (batch, D, N). Every tensor is
//! addressed through its own strides (CubeCL pads rows of fresh tensors),
//! except the f32 scratch and partial-sum buffers, which are allocated
//! packed.

use cubecl::prelude::*;

/// Which optional inputs a launch has, fixed per compiled kernel.
#[derive(CubeType, Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ScanFlags {
    pub has_d: bool,
    pub has_z: bool,
    pub has_bias: bool,
    pub has_init: bool,
    pub softplus: bool,
}

/// The geometry of one cube, fixed per compiled kernel.
#[derive(CubeType, Clone, Copy, Debug, Hash, PartialEq, Eq)]
pub struct ScanTiling {
    /// State size N (units along x).
    pub n_state: usize,
    /// Channels per cube (units along y).
    pub d_tile: usize,
    /// Time steps staged per shared-memory tile.
    pub tile: usize,
}

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
fn softplus(r: f32) -> f32 {
    let mut out = r;
    if r <= 20.0 {
        out = r.exp().log1p();
    }
    out
}

/// Stages one time tile of u and δ (→ Δ, Δ·u, u) and of B (and C) into
/// shared memory; steps past `len` read as zero (Δ = 0 keeps the state).
#[cube]
#[allow(clippy::too_many_arguments)]
fn stage_tile<F: Float, W: Float>(
    u: &Tensor<F>,
    delta: &Tensor<F>,
    b: &Tensor<F>,
    c: &Tensor<F>,
    delta_bias: &Tensor<W>,
    s_dt: &mut SharedMemory<f32>,
    s_dtu: &mut SharedMemory<f32>,
    s_u: &mut SharedMemory<f32>,
    s_b: &mut SharedMemory<f32>,
    s_c: &mut SharedMemory<f32>,
    batch: usize,
    g: usize,
    d0: usize,
    t0: usize,
    len: usize,
    #[comptime] with_c: bool,
    #[comptime] flags: ScanFlags,
    #[comptime] tiling: ScanTiling,
) {
    let tile = tiling.tile;
    let threads = tiling.n_state * tiling.d_tile;
    let tid = UNIT_POS as usize;
    let mut i = tid;
    while i < tiling.d_tile * tile {
        let dd = i / tile;
        let t = i % tile;
        let mut dt = 0.0f32;
        let mut uu = 0.0f32;
        if t0 + t < len {
            let d = d0 + dd;
            uu = f32::cast_from(u[batch * u.stride(0) + d * u.stride(1) + (t0 + t) * u.stride(2)]);
            dt = f32::cast_from(
                delta[batch * delta.stride(0) + d * delta.stride(1) + (t0 + t) * delta.stride(2)],
            );
            if flags.has_bias {
                dt += f32::cast_from(delta_bias[d * delta_bias.stride(0)]);
            }
            if flags.softplus {
                dt = softplus(dt);
            }
        }
        s_dt[i] = dt;
        s_dtu[i] = dt * uu;
        s_u[i] = uu;
        i += threads;
    }
    let mut j = tid;
    while j < tiling.n_state * tile {
        let nn = j / tile;
        let t = j % tile;
        let mut bv = 0.0f32;
        let mut cv = 0.0f32;
        if t0 + t < len {
            bv = f32::cast_from(
                b[batch * b.stride(0)
                    + g * b.stride(1)
                    + nn * b.stride(2)
                    + (t0 + t) * b.stride(3)],
            );
            if with_c {
                cv = f32::cast_from(
                    c[batch * c.stride(0)
                        + g * c.stride(1)
                        + nn * c.stride(2)
                        + (t0 + t) * c.stride(3)],
                );
            }
        }
        s_b[nn * (tile + 1) + t] = bv;
        if with_c {
            s_c[nn * (tile + 1) + t] = cv;
        }
        j += threads;
    }
}

/// Forward scan: out (batch, D, L) and the last state (batch, D, N).
///
/// Long sequences are cut into segments of `seg_len` steps (grid z) that
/// run in parallel, each from its start state in `starts` (batch, S, D, N),
/// which [`scan_segment_ends`] and [`scan_segment_starts`] provide; with
/// one segment, `starts` is unused and the state begins at `init`.
#[cube(launch_unchecked, fast_math = fast_math())]
#[allow(clippy::too_many_arguments)]
pub fn scan_forward<F: Float, W: Float>(
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
    len: u32,
    dim: u32,
    groups: u32,
    seg_len: u32,
    #[comptime] flags: ScanFlags,
    #[comptime] tiling: ScanTiling,
    #[define(F, W)] _dtypes: [StorageType; 2],
) {
    let n_state = tiling.n_state;
    let d_tile = tiling.d_tile;
    let tile = tiling.tile;
    let threads = n_state * d_tile;
    let len = len as usize;
    let dim = dim as usize;
    let groups = groups as usize;

    let n = UNIT_POS_X as usize;
    let dl = UNIT_POS_Y as usize;
    let tid = UNIT_POS as usize;
    let d0 = CUBE_POS_X as usize * d_tile;
    let batch = CUBE_POS_Y as usize;
    let d = d0 + dl;
    let g = d0 / (dim / groups);

    let segments = CUBE_COUNT_Z as usize;
    let seg = CUBE_POS_Z as usize;
    let seg_start = seg * seg_len as usize;
    let mut seg_end = seg_start + seg_len as usize;
    if seg_end > len {
        seg_end = len;
    }

    let a_dn = f32::cast_from(a[d * a.stride(0) + n * a.stride(1)]);
    let mut x = 0.0f32;
    if segments > 1 {
        x = starts[((batch * segments + seg) * dim + d) * n_state + n];
    } else if flags.has_init {
        x = f32::cast_from(init[batch * init.stride(0) + d * init.stride(1) + n * init.stride(2)]);
    }

    let mut s_dt = SharedMemory::<f32>::new(d_tile * tile);
    let mut s_dtu = SharedMemory::<f32>::new(d_tile * tile);
    let mut s_u = SharedMemory::<f32>::new(d_tile * tile);
    let mut s_b = SharedMemory::<f32>::new(n_state * (tile + 1));
    let mut s_c = SharedMemory::<f32>::new(n_state * (tile + 1));
    let mut s_y = SharedMemory::<f32>::new(d_tile * n_state * (tile + 1));

    let own = (dl * n_state + n) * (tile + 1);
    let n_tiles = (seg_end - seg_start).div_ceil(tile);
    for k in 0..n_tiles {
        let t0 = seg_start + k * tile;
        stage_tile::<F, W>(
            u, delta, b, c, delta_bias, &mut s_dt, &mut s_dtu, &mut s_u, &mut s_b, &mut s_c, batch,
            g, d0, t0, seg_end, true, flags, tiling,
        );
        sync_cube();

        #[unroll]
        for t in 0..tile {
            let dt = s_dt[dl * tile + t];
            x = (dt * a_dn).exp() * x + s_dtu[dl * tile + t] * s_b[n * (tile + 1) + t];
            s_y[own + t] = x * s_c[n * (tile + 1) + t];
        }
        sync_cube();

        let mut i = tid;
        while i < d_tile * tile {
            let dd = i / tile;
            let t = i % tile;
            if t0 + t < seg_end {
                let mut y = 0.0f32;
                for nn in 0..n_state {
                    y += s_y[(dd * n_state + nn) * (tile + 1) + t];
                }
                if flags.has_d {
                    y += f32::cast_from(d_skip[(d0 + dd) * d_skip.stride(0)]) * s_u[i];
                }
                if flags.has_z {
                    let zz = f32::cast_from(
                        z[batch * z.stride(0) + (d0 + dd) * z.stride(1) + (t0 + t) * z.stride(2)],
                    );
                    y = y * zz / (1.0 + (-zz).exp());
                }
                out[batch * out.stride(0) + (d0 + dd) * out.stride(1) + (t0 + t) * out.stride(2)] =
                    F::cast_from(y);
            }
            i += threads;
        }
        sync_cube();
    }
    if seg == segments - 1 {
        last[batch * last.stride(0) + d * last.stride(1) + n * last.stride(2)] = W::cast_from(x);
    }
}

/// The states at the start of every time tile, (batch, tiles, D, N) in f32:
/// the checkpoints the backward pass recomputes each tile from. Segments
/// (grid z) run in parallel from their start states.
#[cube(launch_unchecked, fast_math = fast_math())]
#[allow(clippy::too_many_arguments)]
pub fn scan_checkpoints<F: Float, W: Float>(
    u: &Tensor<F>,
    delta: &Tensor<F>,
    a: &Tensor<W>,
    b: &Tensor<F>,
    delta_bias: &Tensor<W>,
    init: &Tensor<W>,
    starts: &Tensor<f32>,
    checkpoints: &mut Tensor<f32>,
    len: u32,
    dim: u32,
    groups: u32,
    seg_len: u32,
    #[comptime] flags: ScanFlags,
    #[comptime] tiling: ScanTiling,
    #[define(F, W)] _dtypes: [StorageType; 2],
) {
    let n_state = tiling.n_state;
    let d_tile = tiling.d_tile;
    let tile = tiling.tile;
    let len = len as usize;
    let dim = dim as usize;
    let groups = groups as usize;

    let n = UNIT_POS_X as usize;
    let dl = UNIT_POS_Y as usize;
    let d0 = CUBE_POS_X as usize * d_tile;
    let batch = CUBE_POS_Y as usize;
    let d = d0 + dl;
    let g = d0 / (dim / groups);

    let segments = CUBE_COUNT_Z as usize;
    let seg = CUBE_POS_Z as usize;
    let seg_start = seg * seg_len as usize;
    let mut seg_end = seg_start + seg_len as usize;
    if seg_end > len {
        seg_end = len;
    }

    let a_dn = f32::cast_from(a[d * a.stride(0) + n * a.stride(1)]);
    let mut x = 0.0f32;
    if segments > 1 {
        x = starts[((batch * segments + seg) * dim + d) * n_state + n];
    } else if flags.has_init {
        x = f32::cast_from(init[batch * init.stride(0) + d * init.stride(1) + n * init.stride(2)]);
    }

    let mut s_dt = SharedMemory::<f32>::new(d_tile * tile);
    let mut s_dtu = SharedMemory::<f32>::new(d_tile * tile);
    let mut s_u = SharedMemory::<f32>::new(d_tile * tile);
    let mut s_b = SharedMemory::<f32>::new(n_state * (tile + 1));
    let mut s_c = SharedMemory::<f32>::new(1usize);

    let all_tiles = len.div_ceil(tile);
    let first_tile = seg_start / tile;
    let n_tiles = (seg_end - seg_start).div_ceil(tile);
    for k in 0..n_tiles {
        let t0 = seg_start + k * tile;
        checkpoints[((batch * all_tiles + first_tile + k) * dim + d) * n_state + n] = x;
        stage_tile::<F, W>(
            u, delta, b, b, delta_bias, &mut s_dt, &mut s_dtu, &mut s_u, &mut s_b, &mut s_c, batch,
            g, d0, t0, seg_end, false, flags, tiling,
        );
        sync_cube();
        #[unroll]
        for t in 0..tile {
            let dt = s_dt[dl * tile + t];
            x = (dt * a_dn).exp() * x + s_dtu[dl * tile + t] * s_b[n * (tile + 1) + t];
        }
        sync_cube();
    }
}

/// Per segment (grid z), the state its steps lead to from zero, and the
/// decay exp(A·ΣΔ) they apply to the state they start from: both
/// (batch, S, D, N) in f32. The state after segment s is
/// decay_s · start_s + end_s.
#[cube(launch_unchecked, fast_math = fast_math())]
#[allow(clippy::too_many_arguments)]
pub fn scan_segment_ends<F: Float, W: Float>(
    u: &Tensor<F>,
    delta: &Tensor<F>,
    a: &Tensor<W>,
    b: &Tensor<F>,
    delta_bias: &Tensor<W>,
    ends: &mut Tensor<f32>,
    decays: &mut Tensor<f32>,
    len: u32,
    dim: u32,
    groups: u32,
    seg_len: u32,
    segments: u32,
    #[comptime] flags: ScanFlags,
    #[comptime] tiling: ScanTiling,
    #[define(F, W)] _dtypes: [StorageType; 2],
) {
    let n_state = tiling.n_state;
    let d_tile = tiling.d_tile;
    let tile = tiling.tile;
    let len = len as usize;
    let dim = dim as usize;
    let groups = groups as usize;
    let segments = segments as usize;

    let n = UNIT_POS_X as usize;
    let dl = UNIT_POS_Y as usize;
    let d0 = CUBE_POS_X as usize * d_tile;
    let batch = CUBE_POS_Y as usize;
    let seg = CUBE_POS_Z as usize;
    let d = d0 + dl;
    let g = d0 / (dim / groups);
    let seg_start = seg * seg_len as usize;
    let mut seg_end = seg_start + seg_len as usize;
    if seg_end > len {
        seg_end = len;
    }

    let a_dn = f32::cast_from(a[d * a.stride(0) + n * a.stride(1)]);
    let mut x = 0.0f32;
    let mut sum_dt = 0.0f32;

    let mut s_dt = SharedMemory::<f32>::new(d_tile * tile);
    let mut s_dtu = SharedMemory::<f32>::new(d_tile * tile);
    let mut s_u = SharedMemory::<f32>::new(d_tile * tile);
    let mut s_b = SharedMemory::<f32>::new(n_state * (tile + 1));
    let mut s_c = SharedMemory::<f32>::new(1usize);

    let n_tiles = (seg_end - seg_start).div_ceil(tile);
    for k in 0..n_tiles {
        let t0 = seg_start + k * tile;
        stage_tile::<F, W>(
            u, delta, b, b, delta_bias, &mut s_dt, &mut s_dtu, &mut s_u, &mut s_b, &mut s_c, batch,
            g, d0, t0, seg_end, false, flags, tiling,
        );
        sync_cube();
        #[unroll]
        for t in 0..tile {
            let dt = s_dt[dl * tile + t];
            sum_dt += dt;
            x = (dt * a_dn).exp() * x + s_dtu[dl * tile + t] * s_b[n * (tile + 1) + t];
        }
        sync_cube();
    }
    let at = ((batch * segments + seg) * dim + d) * n_state + n;
    ends[at] = x;
    decays[at] = (sum_dt * a_dn).exp();
}

/// The start state of every segment, (batch, S, D, N) in f32, from the
/// initial state (or zero) and the segments' ends and decays: a short
/// sequential pass per state element.
#[cube(launch_unchecked)]
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

/// Backward scan from the checkpoints of [`scan_checkpoints`].
///
/// Writes du, dδ, dz (batch, D, L) in `F`; per-cube partial sums in f32 of
/// dB and dC (batch, D/d_tile, N, L), which the caller sums over the cubes
/// of each group; per-row partials of dA (batch, D, N), dD and dδ_bias
/// (batch, D), summed over the batch by the caller; and d(initial state)
/// (batch, D, N).
#[cube(launch_unchecked, fast_math = fast_math())]
#[allow(clippy::too_many_arguments)]
pub fn scan_backward<F: Float, W: Float>(
    u: &Tensor<F>,
    delta: &Tensor<F>,
    a: &Tensor<W>,
    b: &Tensor<F>,
    c: &Tensor<F>,
    d_skip: &Tensor<W>,
    z: &Tensor<F>,
    delta_bias: &Tensor<W>,
    checkpoints: &Tensor<f32>,
    grad_out: &Tensor<F>,
    grad_last: &Tensor<W>,
    du: &mut Tensor<F>,
    ddelta: &mut Tensor<F>,
    dz: &mut Tensor<F>,
    db_part: &mut Tensor<f32>,
    dc_part: &mut Tensor<f32>,
    da_part: &mut Tensor<f32>,
    dd_part: &mut Tensor<f32>,
    dbias_part: &mut Tensor<f32>,
    dinit: &mut Tensor<f32>,
    len: u32,
    dim: u32,
    groups: u32,
    #[comptime] flags: ScanFlags,
    #[comptime] tiling: ScanTiling,
    #[define(F, W)] _dtypes: [StorageType; 2],
) {
    let n_state = tiling.n_state;
    let d_tile = tiling.d_tile;
    let tile = tiling.tile;
    let threads = n_state * d_tile;
    let len = len as usize;
    let dim = dim as usize;
    let groups = groups as usize;

    let n = UNIT_POS_X as usize;
    let dl = UNIT_POS_Y as usize;
    let tid = UNIT_POS as usize;
    let d_cubes = CUBE_COUNT_X as usize;
    let cube_d = CUBE_POS_X as usize;
    let d0 = cube_d * d_tile;
    let batch = CUBE_POS_Y as usize;
    let d = d0 + dl;
    let g = d0 / (dim / groups);
    let part_row = (batch * d_cubes + cube_d) * n_state;

    let a_dn = f32::cast_from(a[d * a.stride(0) + n * a.stride(1)]);

    let mut s_dt = SharedMemory::<f32>::new(d_tile * tile);
    let mut s_dtu = SharedMemory::<f32>::new(d_tile * tile);
    let mut s_u = SharedMemory::<f32>::new(d_tile * tile);
    let mut s_b = SharedMemory::<f32>::new(n_state * (tile + 1));
    let mut s_c = SharedMemory::<f32>::new(n_state * (tile + 1));
    // x_{t−1} at slot t (slot 0: the tile's checkpoint); later overwritten
    // by q_t = h_t·exp(Δ_t A)·x_{t−1} at slot t + 1.
    let mut s_x = SharedMemory::<f32>::new(d_tile * n_state * (tile + 1));
    // C_t·x_t while y is formed, then h_t (the adjoint of x_t).
    let mut s_h = SharedMemory::<f32>::new(d_tile * n_state * (tile + 1));
    let mut s_dy = SharedMemory::<f32>::new(d_tile * tile);
    let mut s_a = SharedMemory::<f32>::new(d_tile * n_state);
    // Accumulators over the whole sequence, each slot owned by one unit.
    let mut s_dd_acc = SharedMemory::<f32>::new(d_tile * tile);
    let mut s_dbias_acc = SharedMemory::<f32>::new(d_tile * tile);

    s_a[dl * n_state + n] = a_dn;
    let mut i0 = tid;
    while i0 < d_tile * tile {
        s_dd_acc[i0] = 0.0;
        s_dbias_acc[i0] = 0.0;
        i0 += threads;
    }

    let own = (dl * n_state + n) * (tile + 1);
    let n_tiles = len.div_ceil(tile);
    let mut h_next = f32::cast_from(
        grad_last[batch * grad_last.stride(0) + d * grad_last.stride(1) + n * grad_last.stride(2)],
    );
    let mut da_acc = 0.0f32;

    for kr in 0..n_tiles {
        let k = n_tiles - 1 - kr;
        let t0 = k * tile;
        stage_tile::<F, W>(
            u, delta, b, c, delta_bias, &mut s_dt, &mut s_dtu, &mut s_u, &mut s_b, &mut s_c, batch,
            g, d0, t0, len, true, flags, tiling,
        );
        sync_cube();

        // Recompute the tile's states from its checkpoint.
        let mut x = checkpoints[((batch * n_tiles + k) * dim + d) * n_state + n];
        s_x[own] = x;
        #[unroll]
        for t in 0..tile {
            let dt = s_dt[dl * tile + t];
            x = (dt * a_dn).exp() * x + s_dtu[dl * tile + t] * s_b[n * (tile + 1) + t];
            s_x[own + t + 1] = x;
            if flags.has_z {
                s_h[own + t] = x * s_c[n * (tile + 1) + t];
            }
        }
        sync_cube();

        // dy (through the gate), dz, and the D terms.
        let mut i = tid;
        while i < d_tile * tile {
            let dd = i / tile;
            let t = i % tile;
            let mut dy = 0.0f32;
            if t0 + t < len {
                let gout = f32::cast_from(
                    grad_out[batch * grad_out.stride(0)
                        + (d0 + dd) * grad_out.stride(1)
                        + (t0 + t) * grad_out.stride(2)],
                );
                dy = gout;
                if flags.has_z {
                    let mut y = 0.0f32;
                    for nn in 0..n_state {
                        y += s_h[(dd * n_state + nn) * (tile + 1) + t];
                    }
                    if flags.has_d {
                        y += f32::cast_from(d_skip[(d0 + dd) * d_skip.stride(0)]) * s_u[i];
                    }
                    let zz = f32::cast_from(
                        z[batch * z.stride(0) + (d0 + dd) * z.stride(1) + (t0 + t) * z.stride(2)],
                    );
                    let sig = 1.0 / (1.0 + (-zz).exp());
                    dy = gout * zz * sig;
                    dz[batch * dz.stride(0) + (d0 + dd) * dz.stride(1) + (t0 + t) * dz.stride(2)] =
                        F::cast_from(gout * y * sig * (1.0 + zz * (1.0 - sig)));
                }
                s_dd_acc[i] += dy * s_u[i];
            }
            s_dy[i] = dy;
            i += threads;
        }
        sync_cube();

        // dC_t[n] = Σ_d dy_t·x_t, over this cube's channels.
        let mut j = tid;
        while j < n_state * tile {
            let nn = j / tile;
            let t = j % tile;
            if t0 + t < len {
                let mut acc = 0.0f32;
                for dd in 0..d_tile {
                    acc += s_dy[dd * tile + t] * s_x[(dd * n_state + nn) * (tile + 1) + t + 1];
                }
                dc_part[(part_row + nn) * len + t0 + t] = acc;
            }
            j += threads;
        }
        sync_cube();

        // The adjoint recurrence, backwards through the tile.
        #[unroll]
        for tr in 0..tile {
            let t = tile - 1 - tr;
            let dt = s_dt[dl * tile + t];
            let decay = (dt * a_dn).exp();
            let h = h_next + s_c[n * (tile + 1) + t] * s_dy[dl * tile + t];
            let q = h * decay * s_x[own + t];
            da_acc += q * dt;
            s_x[own + t + 1] = q;
            s_h[own + t] = h;
            h_next = decay * h;
        }
        sync_cube();

        // dB_t[n] = Σ_d h_t·Δ_t·u_t, over this cube's channels.
        let mut j2 = tid;
        while j2 < n_state * tile {
            let nn = j2 / tile;
            let t = j2 % tile;
            if t0 + t < len {
                let mut acc = 0.0f32;
                for dd in 0..d_tile {
                    acc += s_h[(dd * n_state + nn) * (tile + 1) + t] * s_dtu[dd * tile + t];
                }
                db_part[(part_row + nn) * len + t0 + t] = acc;
            }
            j2 += threads;
        }

        // du and dδ: sums over the state.
        let mut i2 = tid;
        while i2 < d_tile * tile {
            let dd = i2 / tile;
            let t = i2 % tile;
            if t0 + t < len {
                let mut sum_hb = 0.0f32;
                let mut sum_aq = 0.0f32;
                for nn in 0..n_state {
                    let slot = (dd * n_state + nn) * (tile + 1) + t;
                    sum_hb += s_h[slot] * s_b[nn * (tile + 1) + t];
                    sum_aq += s_a[dd * n_state + nn] * s_x[slot + 1];
                }
                let dt = s_dt[i2];
                let mut du_v = dt * sum_hb;
                if flags.has_d {
                    du_v += f32::cast_from(d_skip[(d0 + dd) * d_skip.stride(0)]) * s_dy[i2];
                }
                let mut dd_v = sum_aq + s_u[i2] * sum_hb;
                if flags.softplus {
                    // softplus′(r) = sigmoid(r) = 1 − exp(−softplus(r)).
                    dd_v *= 1.0 - (-dt).exp();
                }
                du[batch * du.stride(0) + (d0 + dd) * du.stride(1) + (t0 + t) * du.stride(2)] =
                    F::cast_from(du_v);
                ddelta[batch * ddelta.stride(0)
                    + (d0 + dd) * ddelta.stride(1)
                    + (t0 + t) * ddelta.stride(2)] = F::cast_from(dd_v);
                s_dbias_acc[i2] += dd_v;
            }
            i2 += threads;
        }
        sync_cube();
    }

    da_part[(batch * dim + d) * n_state + n] = da_acc;
    dinit[(batch * dim + d) * n_state + n] = h_next;
    if n == 0 {
        let mut sum_d = 0.0f32;
        let mut sum_bias = 0.0f32;
        for t in 0..tile {
            sum_d += s_dd_acc[dl * tile + t];
            sum_bias += s_dbias_acc[dl * tile + t];
        }
        dd_part[batch * dim + d] = sum_d;
        dbias_part[batch * dim + d] = sum_bias;
    }
}
