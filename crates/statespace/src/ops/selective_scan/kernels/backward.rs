//! The CubeCL kernel of the selective scan's backward pass.
//!
//! Same layout as the forward kernels ([`super::forward`]): one
//! plane per channel, `warps` channels of one group per cube, chunks of
//! 32·`items` steps with each lane owning `items` consecutive steps. Chunks
//! are walked from the last; for each state n the plane
//! 1. recomputes the chunk's states from the chunk's checkpoint (a forward
//!    plane scan), keeping each lane's x_{t−1} in registers;
//! 2. scans the adjoint backwards: with g_t = C_t·dy_t and the decay
//!    ā_t = exp(Δ_t A), the quantity H_t = ā_t·h_t that flows into step t−1
//!    obeys H_t = ā_t·(g_t + H_{t+1}), an affine recurrence scanned across
//!    lanes in reverse;
//! 3. accumulates, per step, Σ_n h·B (for du and dδ) and Σ_n A·q with
//!    q_t = h_t·ā_t·x_{t−1} (for dδ), and per state dA += Σ_t Δ_t·q_t.
//!
//! dB_t[n] = Σ_d h·Δ·u and dC_t[n] = Σ_d dy·x are sums over the group's
//! channels: the cube sums its channels in shared memory and adds the
//! result to f32 accumulators with atomics. dA, dD and dδ_bias are written
//! per batch row (summed over the batch by the caller), and the adjoint of
//! the initial state as it is.

use cubecl::prelude::*;

use super::forward::{
    channel_scalar, fast_math, lane_entry, load_items, load_steps, stage_states, staged_slot,
    store_items,
};
use crate::ops::selective_scan::plan::{ChunkGeometry, LANES, ScanFlags};

/// Backward scan from the chunk-start states `checkpoints` (batch, chunks,
/// D, N) of the forward kernels' checkpoint pass (`checkpoint_every` = the
/// chunk). Writes du, dδ, dz (batch, D, L) in `F`; adds into the zeroed f32
/// accumulators dB, dC (batch, G, N, L); writes per-row partials of dA
/// (batch, D, N), dD and dδ_bias (batch, D), and d(initial state)
/// (batch, D, N), in f32.
#[cube(launch_unchecked, fast_math = fast_math())]
#[allow(clippy::too_many_arguments)]
pub fn scan_chunked_backward<F: Float, W: Float>(
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
    db_acc: &mut Tensor<Atomic<f32>>,
    dc_acc: &mut Tensor<Atomic<f32>>,
    da_part: &mut Tensor<f32>,
    dd_part: &mut Tensor<f32>,
    dbias_part: &mut Tensor<f32>,
    dinit: &mut Tensor<f32>,
    len: u32,
    dim: u32,
    groups: u32,
    #[comptime] flags: ScanFlags,
    #[comptime] geo: ChunkGeometry,
    #[define(F, W)] _dtypes: [StorageType; 2],
) {
    let items = geo.items;
    let chunk = LANES * items;
    let row = LANES * (items + 1);
    let n_state = geo.n_state;
    let block = geo.state_block;
    let n_blocks = n_state.div_ceil(block);
    let padded_n = n_blocks * block;
    let threads = LANES * geo.warps;
    let len = len as usize;
    let dim = dim as usize;
    let groups = groups as usize;

    let lane = UNIT_POS_X as usize;
    let w = UNIT_POS_Y as usize;
    let tid = UNIT_POS as usize;
    let d = CUBE_POS_X as usize * geo.warps + w;
    let batch = CUBE_POS_Y as usize;
    let g = d / (dim / groups);

    let mut s_b = SharedMemory::<f32>::new(block * row);
    let mut s_c = SharedMemory::<f32>::new(block * row);
    let mut s_io = SharedMemory::<f32>::new(geo.warps * row);
    // Per channel: the adjoint flowing in from the next chunk, A, and dA.
    let mut s_h = SharedMemory::<f32>::new(geo.warps * padded_n);
    let mut s_a = SharedMemory::<f32>::new(geo.warps * padded_n);
    let mut s_da = SharedMemory::<f32>::new(geo.warps * padded_n);
    // Per channel and step: this state's dB and dC terms, summed over the cube.
    let mut s_rb = SharedMemory::<f32>::new(geo.warps * row);
    let mut s_rc = SharedMemory::<f32>::new(geo.warps * row);
    let region = w * row;
    let own = w * padded_n;

    let mut n = lane;
    while n < padded_n {
        let mut h = 0.0f32;
        let mut a_n = 0.0f32;
        if n < n_state {
            a_n = f32::cast_from(a[d * a.stride(0) + n * a.stride(1)]);
            h = f32::cast_from(
                grad_last[batch * grad_last.stride(0)
                    + d * grad_last.stride(1)
                    + n * grad_last.stride(2)],
            );
        }
        s_h[own + n] = h;
        s_a[own + n] = a_n;
        s_da[own + n] = 0.0;
        n += LANES;
    }

    let bias = channel_scalar::<W>(delta_bias, d, flags.has_bias);
    let skip = channel_scalar::<W>(d_skip, d, flags.has_d);
    let row_gout = batch * grad_out.stride(0) + d * grad_out.stride(1);
    let row_z = batch * z.stride(0) + d * z.stride(1);
    let acc_row = batch * db_acc.stride(0) + g * db_acc.stride(1);
    let n_chunks = len.div_ceil(chunk);
    let mut sum_dd = 0.0f32;
    let mut sum_dbias = 0.0f32;

    let mut uu = Array::<f32>::new(items);
    let mut dt = Array::<f32>::new(items);
    let mut dtu = Array::<f32>::new(items);
    let mut dy = Array::<f32>::new(items);
    let mut hb = Array::<f32>::new(items);
    let mut aq = Array::<f32>::new(items);
    let mut yz = Array::<f32>::new(items);
    let mut da = Array::<f32>::new(items);
    let mut db = Array::<f32>::new(items);
    let mut xs = Array::<f32>::new(items);

    for kr in 0..n_chunks {
        let k = n_chunks - 1 - kr;
        let t0 = k * chunk;
        load_steps::<F>(
            u,
            delta,
            batch,
            d,
            t0,
            len,
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
        load_items::<F>(
            grad_out, row_gout, t0, len, &mut s_io, region, lane, &mut dy, items,
        );
        if flags.has_z {
            // dy becomes the gradient of y before the gate: dout·silu(z).
            load_items::<F>(z, row_z, t0, len, &mut s_io, region, lane, &mut hb, items);
            #[unroll]
            for i in 0..items {
                let zz = hb[i];
                dy[i] = dy[i] * zz / (1.0 + (-zz).exp());
            }
        }
        #[unroll]
        for i in 0..items {
            hb[i] = 0.0;
            aq[i] = 0.0;
            yz[i] = 0.0;
        }

        for nb in 0..n_blocks {
            let n0 = nb * block;
            sync_cube();
            stage_states::<F>(b, batch, g, n0, t0, len, &mut s_b, geo);
            stage_states::<F>(c, batch, g, n0, t0, len, &mut s_c, geo);
            sync_cube();
            #[unroll]
            for nn in 0..block {
                let n = n0 + nn;
                let slot = nn * row + lane * (items + 1);
                let a_n = s_a[own + n];

                // 1. The chunk's states from its checkpoint.
                let mut pa = 1.0f32;
                let mut pb = 0.0f32;
                #[unroll]
                for i in 0..items {
                    da[i] = (dt[i] * a_n).exp();
                    db[i] = dtu[i] * s_b[slot + i];
                    pb = da[i] * pb + db[i];
                    pa *= da[i];
                }
                let mut start = 0.0f32;
                if n < n_state {
                    start = checkpoints[((batch * n_chunks + k) * dim + d) * n_state + n];
                }
                let mut x = lane_entry(pa, pb, start, lane, false);
                #[unroll]
                for i in 0..items {
                    xs[i] = x;
                    x = da[i] * x + db[i];
                    let cx = s_c[slot + i] * x;
                    if flags.has_z {
                        yz[i] += cx;
                    }
                    s_rc[region + lane * (items + 1) + i] = dy[i] * x;
                }

                // 2. The adjoint, backwards: H_t = ā_t·(C_t·dy_t + H_{t+1}).
                let mut ra = 1.0f32;
                let mut rb = 0.0f32;
                #[unroll]
                for ir in 0..items {
                    let i = items - 1 - ir;
                    rb = da[i] * (s_c[slot + i] * dy[i] + rb);
                    ra *= da[i];
                }
                let mut flow = lane_entry(ra, rb, s_h[own + n], lane, true);

                // 3. Per-step sums and this state's dA, dB terms.
                let mut da_lane = 0.0f32;
                #[unroll]
                for ir in 0..items {
                    let i = items - 1 - ir;
                    let h = s_c[slot + i] * dy[i] + flow;
                    let q = h * da[i] * xs[i];
                    da_lane += q * dt[i];
                    aq[i] += a_n * q;
                    hb[i] += h * s_b[slot + i];
                    s_rb[region + lane * (items + 1) + i] = h * dtu[i];
                    flow = da[i] * h;
                }
                let chunk_flow = plane_broadcast(flow, 0u32);
                let da_sum = plane_sum(da_lane);
                if lane == 0 {
                    s_h[own + n] = chunk_flow;
                    s_da[own + n] += da_sum;
                }

                // dB and dC of this state: sum the cube's channels, then add.
                sync_cube();
                let mut j = tid;
                while j < chunk {
                    if n < n_state && t0 + j < len {
                        let at = staged_slot(j, items);
                        let mut sum_b = 0.0f32;
                        let mut sum_c = 0.0f32;
                        for ww in 0..geo.warps {
                            sum_b += s_rb[ww * row + at];
                            sum_c += s_rc[ww * row + at];
                        }
                        let acc = acc_row + n * db_acc.stride(2) + t0 + j;
                        db_acc[acc].fetch_add(sum_b);
                        dc_acc[acc].fetch_add(sum_c);
                    }
                    j += threads;
                }
                sync_cube();
            }
        }

        // du, dδ (and dz): sums over the state are complete.
        #[unroll]
        for i in 0..items {
            let valid = t0 + lane * items + i < len;
            let mut dd_v = aq[i] + uu[i] * hb[i];
            if flags.softplus {
                // softplus′(r) = sigmoid(r) = 1 − exp(−softplus(r)).
                dd_v *= 1.0 - (-dt[i]).exp();
            }
            let mut du_v = dt[i] * hb[i];
            if flags.has_d {
                du_v += skip * dy[i];
            }
            if valid {
                sum_dbias += dd_v;
                sum_dd += dy[i] * uu[i];
            }
            aq[i] = dd_v;
            hb[i] = du_v;
        }
        let row_du = batch * du.stride(0) + d * du.stride(1);
        let row_dd = batch * ddelta.stride(0) + d * ddelta.stride(1);
        store_items::<F>(du, row_du, t0, len, &mut s_io, region, lane, &hb, items);
        store_items::<F>(ddelta, row_dd, t0, len, &mut s_io, region, lane, &aq, items);
        if flags.has_z {
            // dz = dout·y·silu′(z), y before the gate.
            load_items::<F>(
                grad_out, row_gout, t0, len, &mut s_io, region, lane, &mut hb, items,
            );
            load_items::<F>(z, row_z, t0, len, &mut s_io, region, lane, &mut aq, items);
            #[unroll]
            for i in 0..items {
                let zz = aq[i];
                let sig = 1.0 / (1.0 + (-zz).exp());
                let y = yz[i] + skip * uu[i];
                yz[i] = hb[i] * y * sig * (1.0 + zz * (1.0 - sig));
            }
            let row_dz = batch * dz.stride(0) + d * dz.stride(1);
            store_items::<F>(dz, row_dz, t0, len, &mut s_io, region, lane, &yz, items);
        }
    }

    sync_plane();
    let mut n = lane;
    while n < n_state {
        let at = (batch * dim + d) * n_state + n;
        da_part[at] = s_da[own + n];
        dinit[at] = s_h[own + n];
        n += LANES;
    }
    let total_dd = plane_sum(sum_dd);
    let total_dbias = plane_sum(sum_dbias);
    if lane == 0 {
        dd_part[batch * dim + d] = total_dd;
        dbias_part[batch * dim + d] = total_dbias;
    }
}
