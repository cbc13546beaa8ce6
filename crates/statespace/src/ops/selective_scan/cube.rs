//! The selective scan on CubeCL devices: the kernels of [`super::kernels`],
//! launched on the device's tensors by the plan of [`super::plan`]. Scans
//! the plan refuses (packed sequences, state sizes over
//! [`super::plan::MAX_STATE`], mixed storage types, buffers past 32-bit
//! indices) run the CPU kernel through host memory.

use std::sync::Once;

use burn::tensor::DType;
use burn::tensor::Shape;
use burn::tensor::backend::Backend;
use burn::tensor::ops::{FloatTensor, FloatTensorOps};
use burn_cubecl::cubecl::prelude::{CubeCount, CubeDim};
use burn_cubecl::ops::numeric::zeros_client;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use burn_flex::Flex;

use super::kernels::backward::scan_chunked_backward;
use super::kernels::forward::{ChunkPass, scan_chunked, scan_segment_starts};
use super::plan::{LANES, Plan, ScanFlags, ScanProblem, plan};
use super::{ScanArgs, ScanGrads, ScanTensors, SelectiveScanOps};
use crate::ops::support::host::{from_host, to_host};
use crate::ops::support::index_limit::reach;
use crate::ops::support::launch::empty_packed as empty;
use crate::ops::support::occupancy;

/// Resident warps per streaming multiprocessor the backward kernel is
/// compiled for (an occupancy hint to NVRTC).
const MIN_WARPS_PER_SM: u32 = 16;

/// Compiles the scan kernels (forward and backward) with denormals flushed
/// to zero, once: each exponential is then one multiply and one `MUFU.EX2`
/// instead of five instructions (ptxas of the generated source: the
/// forward's state loop 140 → 120 instructions a state, the backward's 395
/// → 372). On an H100 (2026-12-06) the forward went from 0.79 to 0.59 ms at
/// 8 × 1536 × 2048 in f32 and bf16, the backward from 2.27–2.30 to 2.07 ms
/// in f32 (docs/ARCHITECTURE.md, "Denormals flushed in the scan kernels").
/// Values below 2⁻¹²⁶ are far under the kernels' tolerance; mamba_ssm
/// flushes too.
fn flush_denormals() {
    static FLUSH: Once = Once::new();
    FLUSH.call_once(|| cubecl::cuda::set_flush_denormals("scan_chunked"));
}

/// The scan as [`plan`] reads it: sizes, storage types and the reach of
/// every input the kernels read through its strides; with `grads` (∂out,
/// ∂(last state)), the backward's.
fn problem<R: CubeRuntime>(
    t: &ScanTensors<CubeTensor<R>>,
    args: &ScanArgs,
    grads: Option<(&CubeTensor<R>, &CubeTensor<R>)>,
) -> ScanProblem {
    let [batch, dim, len] = t.u.meta.shape().dims::<3>();
    let [_, groups, n, _] = t.b.meta.shape().dims::<4>();
    let mut activations = vec![("u", &t.u), ("delta", &t.delta), ("B", &t.b), ("C", &t.c)];
    if args.has_z {
        activations.push(("z", &t.z));
    }
    let mut params = vec![("A", &t.a)];
    let optional = [
        (args.has_d, "D", &t.d),
        (args.has_delta_bias, "delta_bias", &t.delta_bias),
        (args.has_initial_state, "initial_state", &t.initial_state),
    ];
    params.extend(
        optional
            .into_iter()
            .filter(|o| o.0)
            .map(|(_, name, x)| (name, x)),
    );
    if let Some((grad_out, grad_last)) = grads {
        activations.push(("grad_out", grad_out));
        params.push(("grad_last_state", grad_last));
    }
    let reach_of = |&(name, x): &(&'static str, &CubeTensor<R>)| {
        (name, reach(x.meta.shape().as_slice(), x.meta.strides()))
    };
    ScanProblem {
        batch,
        dim,
        len,
        groups,
        n,
        activations: activations.iter().map(|(_, x)| x.dtype).collect(),
        params: params.iter().map(|(_, x)| x.dtype).collect(),
        packed: args.starts.is_some(),
        reaches: activations.iter().chain(&params).map(reach_of).collect(),
        flags: ScanFlags {
            has_d: args.has_d,
            has_z: args.has_z,
            has_bias: args.has_delta_bias,
            has_init: args.has_initial_state,
            softplus: args.delta_softplus,
        },
    }
}

/// The outputs of one launch of [`scan_chunked`]; those its pass does not
/// write may be 1-element placeholders.
struct ChunkOutputs<R: CubeRuntime> {
    out: CubeTensor<R>,
    last: CubeTensor<R>,
    checkpoints: CubeTensor<R>,
    ends: CubeTensor<R>,
    decays: CubeTensor<R>,
}

impl<R: CubeRuntime> ChunkOutputs<R> {
    /// Placeholders for every output, to be replaced by the pass's own.
    fn unused(like: &CubeTensor<R>, p: &Plan) -> Self {
        Self {
            out: empty(like, &[1], p.activations),
            last: empty(like, &[1], p.params),
            checkpoints: empty(like, &[1], DType::F32),
            ends: empty(like, &[1], DType::F32),
            decays: empty(like, &[1], DType::F32),
        }
    }
}

/// Launches [`scan_chunked`] over `grid_segments` segments of `seg_len`
/// steps (`segments` in all, which indexes `starts`, `ends` and `decays`).
fn launch_chunked<R: CubeRuntime>(
    t: &ScanTensors<CubeTensor<R>>,
    p: &Plan,
    pass: ChunkPass,
    starts: &CubeTensor<R>,
    outputs: &ChunkOutputs<R>,
    (grid_segments, segments, seg_len): (usize, usize, usize),
) {
    let geo = p.geometry;
    let count = CubeCount::Static(
        (p.dim / geo.warps) as u32,
        p.batch as u32,
        grid_segments as u32,
    );
    let cube_dim = CubeDim::new_2d(LANES as u32, geo.warps as u32);
    // SAFETY: `plan` checked every shape the kernel indexes with; scratch
    // buffers are allocated with the shapes the kernel assumes.
    unsafe {
        scan_chunked::launch_unchecked::<R>(
            &t.u.client,
            count,
            cube_dim,
            t.u.clone().into_tensor_arg(),
            t.delta.clone().into_tensor_arg(),
            t.a.clone().into_tensor_arg(),
            t.b.clone().into_tensor_arg(),
            t.c.clone().into_tensor_arg(),
            t.d.clone().into_tensor_arg(),
            t.z.clone().into_tensor_arg(),
            t.delta_bias.clone().into_tensor_arg(),
            t.initial_state.clone().into_tensor_arg(),
            starts.clone().into_tensor_arg(),
            outputs.out.clone().into_tensor_arg(),
            outputs.last.clone().into_tensor_arg(),
            outputs.checkpoints.clone().into_tensor_arg(),
            outputs.ends.clone().into_tensor_arg(),
            outputs.decays.clone().into_tensor_arg(),
            p.len as u32,
            p.dim as u32,
            p.groups as u32,
            seg_len as u32,
            segments as u32,
            p.flags,
            geo,
            pass,
            [p.activations.into(), p.params.into()],
        );
    }
}

/// The start state of each of `segments` segments of `seg_len` steps,
/// (batch, S, D, N) in f32; a 1-element placeholder when S = 1 (the
/// kernels then start from the initial state).
fn segment_starts<R: CubeRuntime>(
    t: &ScanTensors<CubeTensor<R>>,
    p: &Plan,
    segments: usize,
    seg_len: usize,
) -> CubeTensor<R> {
    let placeholder = || empty(&t.u, &[1], DType::F32);
    if segments == 1 {
        return placeholder();
    }
    let n = p.geometry.n_state;
    let shape = [p.batch, segments, p.dim, n];
    let summaries = ChunkOutputs {
        ends: empty(&t.u, &shape, DType::F32),
        decays: empty(&t.u, &shape, DType::F32),
        ..ChunkOutputs::unused(&t.u, p)
    };
    let pass = ChunkPass {
        output: false,
        checkpoints: false,
        ends: true,
    };
    // The last segment's end is never used: S − 1 segments are summarised.
    launch_chunked(
        t,
        p,
        pass,
        &placeholder(),
        &summaries,
        (segments - 1, segments, seg_len),
    );
    let starts = empty(&t.u, &shape, DType::F32);
    let elements = p.batch * p.dim * n;
    // SAFETY: the buffers were allocated above with the shapes the kernel
    // indexes with.
    unsafe {
        scan_segment_starts::launch_unchecked::<R>(
            &t.u.client,
            CubeCount::Static(elements.div_ceil(256) as u32, 1, 1),
            CubeDim::new_1d(256),
            t.initial_state.clone().into_tensor_arg(),
            summaries.ends.into_tensor_arg(),
            summaries.decays.into_tensor_arg(),
            starts.clone().into_tensor_arg(),
            p.batch as u32,
            p.dim as u32,
            n as u32,
            segments as u32,
            p.flags.has_init,
            p.params.into(),
        );
    }
    starts
}

/// Runs one pass of [`scan_chunked`] over the whole sequence, in parallel
/// segments when the batch and channels leave the device idle.
fn run_pass<R: CubeRuntime>(
    t: &ScanTensors<CubeTensor<R>>,
    p: &Plan,
    pass: ChunkPass,
    outputs: &ChunkOutputs<R>,
) {
    let (segments, seg_len) = (p.segments, p.seg_len);
    let starts = segment_starts(t, p, segments, seg_len);
    launch_chunked(t, p, pass, &starts, outputs, (segments, segments, seg_len));
}

fn to_cpu<B: Backend>(t: ScanTensors<FloatTensor<B>>) -> ScanTensors<FloatTensor<Flex>> {
    ScanTensors {
        u: to_host::<B>(t.u),
        delta: to_host::<B>(t.delta),
        a: to_host::<B>(t.a),
        b: to_host::<B>(t.b),
        c: to_host::<B>(t.c),
        d: to_host::<B>(t.d),
        z: to_host::<B>(t.z),
        delta_bias: to_host::<B>(t.delta_bias),
        initial_state: to_host::<B>(t.initial_state),
    }
}

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> SelectiveScanOps
    for CubeBackend<R, F, I, BT>
{
    fn selective_scan_forward(
        inputs: ScanTensors<FloatTensor<Self>>,
        args: &ScanArgs,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let (out, last, _) = forward::<R, F, I, BT>(inputs, args, false);
        (out, last)
    }

    /// Also writes the chunk-start states, which the backward pass would
    /// otherwise recompute with a forward pass of its own.
    fn selective_scan_forward_saving(
        inputs: ScanTensors<FloatTensor<Self>>,
        args: &ScanArgs,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        Option<FloatTensor<Self>>,
    ) {
        forward::<R, F, I, BT>(inputs, args, true)
    }

    fn selective_scan_backward_saved(
        inputs: ScanTensors<FloatTensor<Self>>,
        saved: Option<FloatTensor<Self>>,
        grad_out: FloatTensor<Self>,
        grad_last_state: FloatTensor<Self>,
        args: &ScanArgs,
    ) -> ScanGrads<FloatTensor<Self>> {
        let grads = Some((&grad_out, &grad_last_state));
        let Ok(p) = plan(&problem(&inputs, args, grads)) else {
            let device = inputs.u.device.clone();
            let g = Flex::selective_scan_backward(
                to_cpu::<Self>(inputs),
                to_host::<Self>(grad_out),
                to_host::<Self>(grad_last_state),
                args,
            );
            let back = |t| from_host::<Self>(t, &device);
            return ScanGrads {
                u: back(g.u),
                delta: back(g.delta),
                a: back(g.a),
                b: back(g.b),
                c: back(g.c),
                d: back(g.d),
                z: back(g.z),
                delta_bias: back(g.delta_bias),
                initial_state: back(g.initial_state),
            };
        };
        flush_denormals();
        // States saved for other shapes are not these inputs': recompute.
        let saved = saved.filter(|c| c.meta.shape().dims::<4>() == p.checkpoint_shape());
        backward_on_device::<R, F, I, BT>(inputs, saved, grad_out, grad_last_state, &p)
    }

    fn selective_scan_backward(
        inputs: ScanTensors<FloatTensor<Self>>,
        grad_out: FloatTensor<Self>,
        grad_last_state: FloatTensor<Self>,
        args: &ScanArgs,
    ) -> ScanGrads<FloatTensor<Self>> {
        Self::selective_scan_backward_saved(inputs, None, grad_out, grad_last_state, args)
    }
}

/// The forward pass: out (B, D, L) and the last state (B, D, N), and with
/// `save` the chunk-start states the backward reads; inputs the kernels do
/// not take run the CPU kernel through host memory (and save nothing).
fn forward<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement>(
    t: ScanTensors<CubeTensor<R>>,
    args: &ScanArgs,
    save: bool,
) -> (CubeTensor<R>, CubeTensor<R>, Option<CubeTensor<R>>) {
    type B<R, F, I, BT> = CubeBackend<R, F, I, BT>;
    flush_denormals();
    let Ok(p) = plan(&problem(&t, args, None)) else {
        let device = t.u.device.clone();
        let (out, last) = Flex::selective_scan_forward(to_cpu::<B<R, F, I, BT>>(t), args);
        return (
            from_host::<B<R, F, I, BT>>(out, &device),
            from_host::<B<R, F, I, BT>>(last, &device),
            None,
        );
    };
    let unused = ChunkOutputs::unused(&t.u, &p);
    let outputs = ChunkOutputs {
        out: empty(&t.u, &[p.batch, p.dim, p.len], p.activations),
        last: empty(&t.u, &[p.batch, p.dim, p.geometry.n_state], p.params),
        checkpoints: if save {
            empty(&t.u, &p.checkpoint_shape(), DType::F32)
        } else {
            unused.checkpoints
        },
        ..unused
    };
    let pass = ChunkPass {
        output: true,
        checkpoints: save,
        ends: false,
    };
    run_pass(&t, &p, pass, &outputs);
    (
        outputs.out,
        outputs.last,
        save.then_some(outputs.checkpoints),
    )
}

/// Whether a (B, D, L) activation steps through channels faster than
/// through time: a transposed view of a (B, L, D) tensor, as Mamba's
/// layers pass them.
fn is_time_major<R: CubeRuntime>(t: &CubeTensor<R>) -> bool {
    let strides: &[usize] = t.meta.strides();
    t.meta.shape().dims::<3>()[1] > 1 && strides[1] < strides[2]
}

/// The gradients ∂u, ∂δ and ∂z come back in the memory order of their
/// inputs: for time-major inputs (transposed views of (B, L, D) tensors),
/// (B, L, D) buffers seen through the same transposition, so that the
/// element-wise ops of the layer's backward behind the scan read them
/// contiguously. (As (B, D, L) buffers, the strided reads of those ops cost
/// 31.6 ms of a 481 ms mamba-130m training step on the H200.)
fn backward_on_device<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement>(
    t: ScanTensors<CubeTensor<R>>,
    saved_checkpoints: Option<CubeTensor<R>>,
    grad_out: CubeTensor<R>,
    grad_last: CubeTensor<R>,
    p: &Plan,
) -> ScanGrads<CubeTensor<R>> {
    type B<R, F, I, BT> = CubeBackend<R, F, I, BT>;
    let n = p.geometry.n_state;
    let client = t.u.client.clone();
    let device = t.u.device.clone();

    // The chunk-start states: saved by the forward pass, or recomputed by
    // the forward kernel.
    let checkpoints = saved_checkpoints.unwrap_or_else(|| {
        let outputs = ChunkOutputs {
            checkpoints: empty(&t.u, &p.checkpoint_shape(), DType::F32),
            ..ChunkOutputs::unused(&t.u, p)
        };
        let pass = ChunkPass {
            output: false,
            checkpoints: true,
            ends: false,
        };
        run_pass(&t, p, pass, &outputs);
        outputs.checkpoints
    });

    let laid_out_as = |input: &CubeTensor<R>| {
        if is_time_major(input) {
            let time_major = empty(input, &[p.batch, p.len, p.dim], p.activations);
            B::<R, F, I, BT>::float_swap_dims(time_major, 1, 2)
        } else {
            empty(input, &[p.batch, p.dim, p.len], p.activations)
        }
    };
    let du = laid_out_as(&t.u);
    let ddelta = laid_out_as(&t.delta);
    let dz = if p.flags.has_z {
        laid_out_as(&t.z)
    } else {
        empty(&t.u, &[1], p.activations)
    };
    let zeros = |shape: &[usize]| {
        zeros_client(
            client.clone(),
            device.clone(),
            Shape::from(shape.to_vec()),
            DType::F32,
        )
    };
    let db_acc = zeros(&[p.batch, p.groups, n, p.len]);
    let dc_acc = zeros(&[p.batch, p.groups, n, p.len]);
    let da_part = empty(&t.u, &[p.batch, p.dim, n], DType::F32);
    let dd_part = empty(&t.u, &[p.batch, p.dim], DType::F32);
    let dbias_part = empty(&t.u, &[p.batch, p.dim], DType::F32);
    let dinit = empty(&t.u, &[p.batch, p.dim, n], DType::F32);
    let dtypes = (
        t.a.dtype,
        t.b.dtype,
        t.c.dtype,
        t.d.dtype,
        t.delta_bias.dtype,
        t.initial_state.dtype,
        t.z.dtype,
    );
    let geo = p.backward;
    // At least 16 resident warps per SM: caps the kernel at 128 registers
    // per thread. Left to itself NVRTC gave it 182, one 8-warp cube per SM;
    // capped, the (8, 1536, 2048) f32 backward went from 3.48 to 2.13 ms
    // and the (1, 1536, 65536) bf16 one from 21.6 to 12.3 ms on the H200
    // (`ssm bench kernels --only scan`, one session).
    static OCCUPANCY_HINT: Once = Once::new();
    OCCUPANCY_HINT.call_once(|| {
        occupancy::hint("scan_chunked_backward", MIN_WARPS_PER_SM);
    });
    // SAFETY: `plan` checked every shape the kernel indexes with; the
    // outputs were allocated above with the shapes it assumes.
    unsafe {
        scan_chunked_backward::launch_unchecked::<R>(
            &client,
            CubeCount::Static((p.dim / geo.warps) as u32, p.batch as u32, 1),
            CubeDim::new_2d(LANES as u32, geo.warps as u32),
            t.u.into_tensor_arg(),
            t.delta.into_tensor_arg(),
            t.a.into_tensor_arg(),
            t.b.into_tensor_arg(),
            t.c.into_tensor_arg(),
            t.d.into_tensor_arg(),
            t.z.into_tensor_arg(),
            t.delta_bias.into_tensor_arg(),
            checkpoints.into_tensor_arg(),
            grad_out.into_tensor_arg(),
            grad_last.into_tensor_arg(),
            du.clone().into_tensor_arg(),
            ddelta.clone().into_tensor_arg(),
            dz.clone().into_tensor_arg(),
            db_acc.clone().into_tensor_arg(),
            dc_acc.clone().into_tensor_arg(),
            da_part.clone().into_tensor_arg(),
            dd_part.clone().into_tensor_arg(),
            dbias_part.clone().into_tensor_arg(),
            dinit.clone().into_tensor_arg(),
            p.len as u32,
            p.dim as u32,
            p.groups as u32,
            p.flags,
            geo,
            [p.activations.into(), p.params.into()],
        );
    }

    let (a_dtype, b_dtype, c_dtype, d_dtype, bias_dtype, init_dtype, z_dtype) = dtypes;
    let cast = |x: CubeTensor<R>, dtype: DType| {
        if x.dtype == dtype {
            x
        } else {
            B::<R, F, I, BT>::float_cast(x, dtype.into())
        }
    };
    let placeholder = |dtype: DType| -> CubeTensor<R> {
        zeros_client(client.clone(), device.clone(), Shape::new([1]), dtype)
    };
    let batch_sum = |part: CubeTensor<R>, shape: Shape, dtype: DType| {
        let summed = B::<R, F, I, BT>::float_sum_dim(part, 0);
        cast(B::<R, F, I, BT>::float_reshape(summed, shape), dtype)
    };
    ScanGrads {
        u: du,
        delta: ddelta,
        a: batch_sum(da_part, Shape::new([p.dim, n]), a_dtype),
        b: cast(db_acc, b_dtype),
        c: cast(dc_acc, c_dtype),
        d: if p.flags.has_d {
            batch_sum(dd_part, Shape::new([p.dim]), d_dtype)
        } else {
            placeholder(d_dtype)
        },
        z: if p.flags.has_z {
            dz
        } else {
            placeholder(z_dtype)
        },
        delta_bias: if p.flags.has_bias {
            batch_sum(dbias_part, Shape::new([p.dim]), bias_dtype)
        } else {
            placeholder(bias_dtype)
        },
        initial_state: if p.flags.has_init {
            cast(dinit, init_dtype)
        } else {
            placeholder(init_dtype)
        },
    }
}
