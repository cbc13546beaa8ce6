//! The selective scan on CubeCL devices: the kernels of [`super::kernels`],
//! launched on the device's tensors. Packed sequences, state sizes over
//! [`MAX_STATE`] and mixed storage types the kernels do not take run the CPU
//! kernel through host memory.

use burn::tensor::DType;
use burn::tensor::Shape;
use burn::tensor::backend::Backend;
use burn::tensor::ops::{FloatTensor, FloatTensorOps};
use burn_cubecl::cubecl::prelude::{CubeCount, CubeDim};
use burn_cubecl::ops::numeric::{empty_device_contiguous_dtype, zeros_client};
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use burn_flex::Flex;

use super::kernels::{
    ScanFlags, ScanTiling, scan_backward, scan_checkpoints, scan_forward, scan_segment_ends,
    scan_segment_starts,
};
use super::{ScanArgs, ScanGrads, ScanTensors, SelectiveScanOps};
use crate::ops::host::{from_host, to_host};

/// Largest state size N the kernels take (one unit per state element).
pub const MAX_STATE: usize = 256;

/// Units per cube the tiling aims for.
const UNITS: usize = 128;

/// Static shared memory per cube (CUDA's limit is 48 KiB).
const SHARED_BYTES: usize = 46 * 1024;

/// The cube geometry for state size `n` and `dim_per_group` channels per
/// group: `n × d_tile` units with `d_tile` dividing the group, and the
/// longest time tile whose backward staging fits in shared memory.
fn tiling(n: usize, dim_per_group: usize) -> Option<ScanTiling> {
    if n == 0 || n > MAX_STATE {
        return None;
    }
    let mut d_tile = (UNITS / n).max(1).next_power_of_two();
    while d_tile > 1 && (!dim_per_group.is_multiple_of(d_tile) || d_tile * n > UNITS.max(n)) {
        d_tile /= 2;
    }
    let floats =
        |t: usize| 6 * d_tile * t + 2 * n * (t + 1) + 2 * d_tile * n * (t + 1) + d_tile * n;
    let tile = [32, 16, 8, 4]
        .into_iter()
        .find(|&t| 4 * floats(t) <= SHARED_BYTES)?;
    Some(ScanTiling {
        n_state: n,
        d_tile,
        tile,
    })
}

fn is_kernel_float(dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::BF16 | DType::F16)
}

/// Problem sizes read off the inputs, when the kernels can run them.
struct Plan {
    batch: usize,
    dim: usize,
    len: usize,
    groups: usize,
    tiling: ScanTiling,
    flags: ScanFlags,
    activations: DType,
    params: DType,
}

fn plan<R: CubeRuntime>(t: &ScanTensors<CubeTensor<R>>, args: &ScanArgs) -> Option<Plan> {
    if args.starts.is_some() {
        return None;
    }
    let [batch, dim, len] = t.u.meta.shape().dims::<3>();
    let [_, groups, n, _] = t.b.meta.shape().dims::<4>();
    let activations = t.u.dtype;
    let params = t.a.dtype;
    let same_act = [&t.delta, &t.b, &t.c]
        .into_iter()
        .chain(args.has_z.then_some(&t.z))
        .all(|x| x.dtype == activations);
    let same_params = [
        (args.has_d, &t.d),
        (args.has_delta_bias, &t.delta_bias),
        (args.has_initial_state, &t.initial_state),
    ]
    .into_iter()
    .all(|(present, x)| !present || x.dtype == params);
    if !(same_act && same_params && is_kernel_float(activations) && is_kernel_float(params)) {
        return None;
    }
    if len == 0 || batch == 0 || dim == 0 {
        return None;
    }
    Some(Plan {
        batch,
        dim,
        len,
        groups,
        tiling: tiling(n, dim / groups)?,
        flags: ScanFlags {
            has_d: args.has_d,
            has_z: args.has_z,
            has_bias: args.has_delta_bias,
            has_init: args.has_initial_state,
            softplus: args.delta_softplus,
        },
        activations,
        params,
    })
}

/// Cubes that fill the device about once (132 SMs × 8 resident cubes on an
/// H100/H200); fewer (small batch × width) split the sequence in segments.
const TARGET_CUBES: usize = 1024;

/// Segments of at least this many time tiles, so the extra pass that finds
/// their start states stays short beside the scan itself.
const MIN_SEGMENT_TILES: usize = 8;

/// (segments S, steps per segment): S = 1 when batch × channel tiles fill
/// the device.
fn segmentation(p: &Plan) -> (usize, usize) {
    let tile = p.tiling.tile;
    let cubes = (p.dim / p.tiling.d_tile) * p.batch;
    let wanted = TARGET_CUBES.div_ceil(cubes);
    let most = (p.len / (MIN_SEGMENT_TILES * tile)).max(1);
    let segments = wanted.min(most).max(1);
    let seg_len = p.len.div_ceil(segments).div_ceil(tile) * tile;
    (p.len.div_ceil(seg_len), seg_len)
}

fn grid(p: &Plan, segments: usize) -> (CubeCount, CubeDim) {
    (
        CubeCount::Static(
            (p.dim / p.tiling.d_tile) as u32,
            p.batch as u32,
            segments as u32,
        ),
        CubeDim::new_2d(p.tiling.n_state as u32, p.tiling.d_tile as u32),
    )
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
    if segments == 1 {
        return empty(&t.u, &[1], DType::F32);
    }
    let n = p.tiling.n_state;
    let client = t.u.client.clone();
    let shape = [p.batch, segments, p.dim, n];
    let ends = empty(&t.u, &shape, DType::F32);
    let decays = empty(&t.u, &shape, DType::F32);
    let starts = empty(&t.u, &shape, DType::F32);
    // The last segment's end is never used: S − 1 segments are summarised.
    let (count, cube_dim) = grid(p, segments - 1);
    let elements = p.batch * p.dim * n;
    // SAFETY: `plan` checked every shape the kernels index with; the
    // buffers are allocated here with the shapes the kernels assume.
    unsafe {
        scan_segment_ends::launch_unchecked::<R>(
            &client,
            count,
            cube_dim,
            t.u.clone().into_tensor_arg(),
            t.delta.clone().into_tensor_arg(),
            t.a.clone().into_tensor_arg(),
            t.b.clone().into_tensor_arg(),
            t.delta_bias.clone().into_tensor_arg(),
            ends.clone().into_tensor_arg(),
            decays.clone().into_tensor_arg(),
            p.len as u32,
            p.dim as u32,
            p.groups as u32,
            seg_len as u32,
            segments as u32,
            p.flags,
            p.tiling,
            [p.activations.into(), p.params.into()],
        );
        scan_segment_starts::launch_unchecked::<R>(
            &client,
            CubeCount::Static(elements.div_ceil(256) as u32, 1, 1),
            CubeDim::new_1d(256),
            t.initial_state.clone().into_tensor_arg(),
            ends.into_tensor_arg(),
            decays.into_tensor_arg(),
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

/// A packed (unpadded) tensor of `shape` on the device of `like`.
fn empty<R: CubeRuntime>(like: &CubeTensor<R>, shape: &[usize], dtype: DType) -> CubeTensor<R> {
    empty_device_contiguous_dtype(
        like.client.clone(),
        like.device.clone(),
        Shape::from(shape.to_vec()),
        dtype,
    )
}

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> SelectiveScanOps
    for CubeBackend<R, F, I, BT>
{
    fn selective_scan_forward(
        inputs: ScanTensors<FloatTensor<Self>>,
        args: &ScanArgs,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let Some(p) = plan(&inputs, args) else {
            let device = inputs.u.device.clone();
            let (out, last) = Flex::selective_scan_forward(to_cpu::<Self>(inputs), args);
            return (
                from_host::<Self>(out, &device),
                from_host::<Self>(last, &device),
            );
        };
        let t = inputs;
        let n = p.tiling.n_state;
        let out = empty(&t.u, &[p.batch, p.dim, p.len], p.activations);
        let last = empty(&t.u, &[p.batch, p.dim, n], p.params);
        let client = t.u.client.clone();
        let (segments, seg_len) = segmentation(&p);
        let starts = segment_starts(&t, &p, segments, seg_len);
        let (count, cube_dim) = grid(&p, segments);
        // SAFETY: `plan` checked every shape the kernel indexes with.
        unsafe {
            scan_forward::launch_unchecked::<R>(
                &client,
                count,
                cube_dim,
                t.u.into_tensor_arg(),
                t.delta.into_tensor_arg(),
                t.a.into_tensor_arg(),
                t.b.into_tensor_arg(),
                t.c.into_tensor_arg(),
                t.d.into_tensor_arg(),
                t.z.into_tensor_arg(),
                t.delta_bias.into_tensor_arg(),
                t.initial_state.into_tensor_arg(),
                starts.into_tensor_arg(),
                out.clone().into_tensor_arg(),
                last.clone().into_tensor_arg(),
                p.len as u32,
                p.dim as u32,
                p.groups as u32,
                seg_len as u32,
                p.flags,
                p.tiling,
                [p.activations.into(), p.params.into()],
            );
        }
        (out, last)
    }

    fn selective_scan_backward(
        inputs: ScanTensors<FloatTensor<Self>>,
        grad_out: FloatTensor<Self>,
        grad_last_state: FloatTensor<Self>,
        args: &ScanArgs,
    ) -> ScanGrads<FloatTensor<Self>> {
        let plan = plan(&inputs, args)
            .filter(|p| grad_out.dtype == p.activations && grad_last_state.dtype == p.params);
        let Some(p) = plan else {
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
        backward_on_device::<R, F, I, BT>(inputs, grad_out, grad_last_state, &p)
    }
}

fn backward_on_device<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement>(
    t: ScanTensors<CubeTensor<R>>,
    grad_out: CubeTensor<R>,
    grad_last: CubeTensor<R>,
    p: &Plan,
) -> ScanGrads<CubeTensor<R>> {
    type B<R, F, I, BT> = CubeBackend<R, F, I, BT>;
    let n = p.tiling.n_state;
    let tile = p.tiling.tile;
    let n_tiles = p.len.div_ceil(tile);
    let d_cubes = p.dim / p.tiling.d_tile;
    let client = t.u.client.clone();
    let (count, cube_dim) = grid(p, 1);
    let dtypes = [p.activations.into(), p.params.into()];

    // The checkpoints run in segments like the forward pass; the reverse
    // sweep below is one pass per (batch row, channel tile).
    let (segments, seg_len) = segmentation(p);
    let starts = segment_starts(&t, p, segments, seg_len);
    let (seg_count, _) = grid(p, segments);
    let checkpoints = empty(&t.u, &[p.batch, n_tiles, p.dim, n], DType::F32);
    // SAFETY: `plan` checked every shape the kernels index with.
    unsafe {
        scan_checkpoints::launch_unchecked::<R>(
            &client,
            seg_count,
            cube_dim,
            t.u.clone().into_tensor_arg(),
            t.delta.clone().into_tensor_arg(),
            t.a.clone().into_tensor_arg(),
            t.b.clone().into_tensor_arg(),
            t.delta_bias.clone().into_tensor_arg(),
            t.initial_state.clone().into_tensor_arg(),
            starts.into_tensor_arg(),
            checkpoints.clone().into_tensor_arg(),
            p.len as u32,
            p.dim as u32,
            p.groups as u32,
            seg_len as u32,
            p.flags,
            p.tiling,
            dtypes,
        );
    }

    let act = [p.batch, p.dim, p.len];
    let du = empty(&t.u, &act, p.activations);
    let ddelta = empty(&t.u, &act, p.activations);
    let dz = if p.flags.has_z {
        empty(&t.u, &act, p.activations)
    } else {
        empty(&t.u, &[1], p.activations)
    };
    let db_part = empty(&t.u, &[p.batch, d_cubes, n, p.len], DType::F32);
    let dc_part = empty(&t.u, &[p.batch, d_cubes, n, p.len], DType::F32);
    let da_part = empty(&t.u, &[p.batch, p.dim, n], DType::F32);
    let dd_part = empty(&t.u, &[p.batch, p.dim], DType::F32);
    let dbias_part = empty(&t.u, &[p.batch, p.dim], DType::F32);
    let dinit = empty(&t.u, &[p.batch, p.dim, n], DType::F32);
    let (a_dtype, b_dtype, c_dtype) = (t.a.dtype, t.b.dtype, t.c.dtype);
    let device = t.u.device.clone();
    let placeholder = |dtype: DType| -> CubeTensor<R> {
        zeros_client(client.clone(), device.clone(), Shape::new([1]), dtype)
    };
    let d_dtype = t.d.dtype;
    let bias_dtype = t.delta_bias.dtype;
    let init_dtype = t.initial_state.dtype;
    let z_dtype = t.z.dtype;

    unsafe {
        scan_backward::launch_unchecked::<R>(
            &client,
            count,
            cube_dim,
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
            db_part.clone().into_tensor_arg(),
            dc_part.clone().into_tensor_arg(),
            da_part.clone().into_tensor_arg(),
            dd_part.clone().into_tensor_arg(),
            dbias_part.clone().into_tensor_arg(),
            dinit.clone().into_tensor_arg(),
            p.len as u32,
            p.dim as u32,
            p.groups as u32,
            p.flags,
            p.tiling,
            dtypes,
        );
    }

    let cast = |x: CubeTensor<R>, dtype: DType| {
        if x.dtype == dtype {
            x
        } else {
            B::<R, F, I, BT>::float_cast(x, dtype.into())
        }
    };
    // Sums over the cubes of each group: (batch, G, cubes/G, N, L) → (batch, G, N, L).
    let group_sum = |part: CubeTensor<R>, dtype: DType| {
        let per_group = d_cubes / p.groups;
        let part = B::<R, F, I, BT>::float_reshape(
            part,
            Shape::new([p.batch, p.groups, per_group, n, p.len]),
        );
        let summed = B::<R, F, I, BT>::float_sum_dim(part, 2);
        cast(
            B::<R, F, I, BT>::float_reshape(summed, Shape::new([p.batch, p.groups, n, p.len])),
            dtype,
        )
    };
    let batch_sum = |part: CubeTensor<R>, shape: Shape, dtype: DType| {
        let summed = B::<R, F, I, BT>::float_sum_dim(part, 0);
        cast(B::<R, F, I, BT>::float_reshape(summed, shape), dtype)
    };
    ScanGrads {
        u: du,
        delta: ddelta,
        a: batch_sum(da_part, Shape::new([p.dim, n]), a_dtype),
        b: group_sum(db_part, b_dtype),
        c: group_sum(dc_part, c_dtype),
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
