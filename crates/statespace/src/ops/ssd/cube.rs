//! SSD on CubeCL devices: the chunked kernels of [`super::kernels`],
//! forward and backward, for the problems they take
//! ([`super::plan::kernels_take`]: f32, bf16 or f16 inputs of one
//! storage type, no packed sequences, sizes within 32-bit indices). `ssd()`
//! runs the differentiable chunked composite for the others
//! ([`SsdOps::ssd_prefers_chunked`]); the op itself, called directly with
//! such inputs, runs the composite forward and the CPU backward (f32 or f64
//! of one type) through host memory.

use std::sync::Once;

use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Shape, Tensor, TensorPrimitive};
use burn_cubecl::cubecl::prelude::{CubeCount, CubeDim};
use burn_cubecl::ops::numeric::zeros_client;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use burn_flex::Flex;

use super::kernels::backward::{
    ssd_chunk_backward, ssd_chunk_bc_grads, ssd_decay_carry, ssd_decay_grad,
};
use super::kernels::forward::{ssd_chunk_cb, ssd_chunk_outputs, ssd_chunk_states, ssd_state_pass};
use super::kernels::{BLOCK, EDGE, STEPS};
use super::plan::kernels_take;
use super::{Ssd, SsdArgs, SsdOps, SsdProblem, SsdTensors, ssd_chunked};
use crate::ops::support::host::{from_host, to_host};
use crate::ops::support::launch::empty_packed as empty;
use crate::ops::support::occupancy;

/// Units per cube of the element-wise kernels.
const UNITS_1D: u32 = 256;

/// Resident warps per streaming multiprocessor [`ssd_chunk_backward`] is
/// compiled for (an occupancy hint to NVRTC): two cubes, so at most 128
/// registers per unit. Left to itself NVRTC gave it 202 registers and one
/// cube per SM (12.5 % occupancy): 2.31 ms per call at batch 8, L 2048 on
/// the H200, 1.70 ms capped (Nsight Compute, one session).
const BACKWARD_WARPS_PER_SM: u32 = 16;

/// Problem sizes read off the inputs, when the kernels can run them.
struct Plan {
    batch: usize,
    len: usize,
    heads: usize,
    p: usize,
    groups: usize,
    n: usize,
    chunks: usize,
    dtype: DType,
    has_init: bool,
}

impl Plan {
    fn state_shape(&self) -> [usize; 5] {
        [self.batch, self.chunks, self.heads, self.p, self.n]
    }
}

fn plan<R: CubeRuntime>(t: &SsdTensors<CubeTensor<R>>, args: &SsdArgs) -> Option<Plan> {
    let [batch, len, heads, p] = t.x.meta.shape().dims::<4>();
    let [_, _, groups, n] = t.b.meta.shape().dims::<4>();
    let dtype = t.x.dtype;
    let problem = SsdProblem {
        dims: [batch, len, heads, p, groups, n],
        dtypes: [&t.x, &t.a, &t.b, &t.c]
            .into_iter()
            .chain(args.has_initial_state.then_some(&t.initial_state))
            .map(|x| x.dtype)
            .collect(),
        packed: args.starts.is_some(),
    };
    if !kernels_take(&problem) {
        return None;
    }
    Some(Plan {
        batch,
        len,
        heads,
        p,
        groups,
        n,
        chunks: len.div_ceil(STEPS),
        dtype,
        has_init: args.has_initial_state,
    })
}

fn cube_2d() -> CubeDim {
    CubeDim::new_2d(EDGE as u32, EDGE as u32)
}

/// Each chunk's own state (batch, chunks, H, P, N) in f32 from `x` and `b`
/// ((∂y, C) with `reverse`), and the chunk decays (batch, H, chunks).
fn chunk_states<R: CubeRuntime>(
    x: &CubeTensor<R>,
    a: &CubeTensor<R>,
    b: &CubeTensor<R>,
    p: &Plan,
    reverse: bool,
    decays: Option<CubeTensor<R>>,
) -> (CubeTensor<R>, CubeTensor<R>) {
    let states = empty(x, &p.state_shape(), DType::F32);
    let write_decays = decays.is_none();
    let decays = decays.unwrap_or_else(|| empty(x, &[p.batch, p.heads, p.chunks], DType::F32));
    let blocks = p.p.div_ceil(BLOCK) * p.n.div_ceil(BLOCK);
    // SAFETY: `plan` read the sizes off these inputs; the outputs were
    // allocated with the shapes the kernel indexes.
    unsafe {
        ssd_chunk_states::launch_unchecked::<R>(
            &x.client,
            CubeCount::Static((p.chunks * blocks) as u32, p.heads as u32, p.batch as u32),
            cube_2d(),
            x.clone().into_tensor_arg(),
            a.clone().into_tensor_arg(),
            b.clone().into_tensor_arg(),
            states.clone().into_tensor_arg(),
            decays.clone().into_tensor_arg(),
            p.len as u32,
            reverse,
            write_decays,
            p.dtype.into(),
        );
    }
    (states, decays)
}

/// Turns each chunk's own state into the state entering it (or with
/// `reverse` the gradient state arriving at its end), in place; returns
/// what leaves the sequence as `out_dtype` (batch, H, P, N).
fn state_pass<R: CubeRuntime>(
    states: &CubeTensor<R>,
    decays: &CubeTensor<R>,
    init: Option<&CubeTensor<R>>,
    p: &Plan,
    out_dtype: DType,
    reverse: bool,
) -> CubeTensor<R> {
    let last = empty(states, &[p.batch, p.heads, p.p, p.n], out_dtype);
    let placeholder = empty(states, &[1, 1, 1, 1], p.dtype);
    let elements = p.batch * p.heads * p.p * p.n;
    // SAFETY: as above; `init` is (batch, H, P, N), read through its strides.
    unsafe {
        ssd_state_pass::launch_unchecked::<R>(
            &states.client,
            CubeCount::Static(elements.div_ceil(UNITS_1D as usize) as u32, 1, 1),
            CubeDim::new_1d(UNITS_1D),
            states.clone().into_tensor_arg(),
            decays.clone().into_tensor_arg(),
            init.unwrap_or(&placeholder).clone().into_tensor_arg(),
            last.clone().into_tensor_arg(),
            p.heads as u32,
            (p.p * p.n) as u32,
            p.chunks as u32,
            init.is_some(),
            reverse,
            [p.dtype.into(), out_dtype.into()],
        );
    }
    last
}

/// The states entering each chunk, the chunk decays and the final state
/// (as `final_dtype`).
fn entering_states<R: CubeRuntime>(
    t: &SsdTensors<CubeTensor<R>>,
    p: &Plan,
    final_dtype: DType,
) -> (CubeTensor<R>, CubeTensor<R>, CubeTensor<R>) {
    let (states, decays) = chunk_states(&t.x, &t.a, &t.b, p, false, None);
    let init = p.has_init.then_some(&t.initial_state);
    let last = state_pass(&states, &decays, init, p, final_dtype, false);
    (states, decays, last)
}

/// The inner products Cᵢ·Bⱼ of each chunk's steps per group, (batch,
/// chunks, G, STEPS, STEPS) in f32.
fn chunk_cb<R: CubeRuntime>(t: &SsdTensors<CubeTensor<R>>, p: &Plan) -> CubeTensor<R> {
    let cb = empty(
        &t.x,
        &[p.batch, p.chunks, p.groups, STEPS, STEPS],
        DType::F32,
    );
    // SAFETY: as above.
    unsafe {
        ssd_chunk_cb::launch_unchecked::<R>(
            &t.x.client,
            CubeCount::Static(p.chunks as u32, p.groups as u32, p.batch as u32),
            cube_2d(),
            t.b.clone().into_tensor_arg(),
            t.c.clone().into_tensor_arg(),
            cb.clone().into_tensor_arg(),
            p.len as u32,
            p.dtype.into(),
        );
    }
    cb
}

fn forward_on_device<R: CubeRuntime>(
    t: &SsdTensors<CubeTensor<R>>,
    p: &Plan,
) -> (CubeTensor<R>, CubeTensor<R>) {
    let (entering, _, last) = entering_states(t, p, p.dtype);
    let cb = chunk_cb(t, p);
    let y = empty(&t.x, &[p.batch, p.len, p.heads, p.p], p.dtype);
    // SAFETY: as above.
    unsafe {
        ssd_chunk_outputs::launch_unchecked::<R>(
            &t.x.client,
            CubeCount::Static(p.chunks as u32, p.heads as u32, p.batch as u32),
            cube_2d(),
            t.x.clone().into_tensor_arg(),
            t.a.clone().into_tensor_arg(),
            t.b.clone().into_tensor_arg(),
            t.c.clone().into_tensor_arg(),
            cb.into_tensor_arg(),
            entering.into_tensor_arg(),
            y.clone().into_tensor_arg(),
            p.len as u32,
            p.dtype.into(),
        );
    }
    (y, last)
}

fn backward_on_device<R: CubeRuntime>(
    t: SsdTensors<CubeTensor<R>>,
    grad_y: CubeTensor<R>,
    grad_final: CubeTensor<R>,
    p: &Plan,
) -> SsdTensors<CubeTensor<R>> {
    let client = t.x.client.clone();
    let (entering, decays, final_state) = entering_states(&t, p, DType::F32);
    let (arriving, _) = chunk_states(&grad_y, &t.a, &t.c, p, true, Some(decays.clone()));
    let grad_init = state_pass(&arriving, &decays, Some(&grad_final), p, p.dtype, true);
    let cb = chunk_cb(&t, p);

    let dx = empty(&t.x, &[p.batch, p.len, p.heads, p.p], p.dtype);
    let dcum = empty(&t.x, &[p.batch, p.heads, p.chunks * STEPS], DType::F32);
    let totals = empty(&t.x, &[p.batch, p.heads, p.chunks], DType::F32);
    let grid = CubeCount::Static(p.chunks as u32, p.heads as u32, p.batch as u32);
    static OCCUPANCY_HINT: Once = Once::new();
    OCCUPANCY_HINT.call_once(|| {
        occupancy::hint("ssd_chunk_backward", BACKWARD_WARPS_PER_SM);
    });
    // SAFETY: as above.
    unsafe {
        ssd_chunk_backward::launch_unchecked::<R>(
            &client,
            grid,
            cube_2d(),
            t.x.clone().into_tensor_arg(),
            t.a.clone().into_tensor_arg(),
            t.b.clone().into_tensor_arg(),
            t.c.clone().into_tensor_arg(),
            cb.into_tensor_arg(),
            grad_y.clone().into_tensor_arg(),
            entering.clone().into_tensor_arg(),
            arriving.clone().into_tensor_arg(),
            grad_final.into_tensor_arg(),
            final_state.into_tensor_arg(),
            dx.clone().into_tensor_arg(),
            dcum.clone().into_tensor_arg(),
            totals.clone().into_tensor_arg(),
            p.len as u32,
            p.dtype.into(),
        );
    }

    let db = empty(&t.x, &[p.batch, p.len, p.groups, p.n], p.dtype);
    let dc = empty(&t.x, &[p.batch, p.len, p.groups, p.n], p.dtype);
    // SAFETY: as above.
    unsafe {
        ssd_chunk_bc_grads::launch_unchecked::<R>(
            &client,
            CubeCount::Static(
                (p.chunks * p.n.div_ceil(BLOCK)) as u32,
                p.groups as u32,
                p.batch as u32,
            ),
            cube_2d(),
            t.x.clone().into_tensor_arg(),
            t.a.clone().into_tensor_arg(),
            t.b.clone().into_tensor_arg(),
            t.c.clone().into_tensor_arg(),
            grad_y.into_tensor_arg(),
            entering.into_tensor_arg(),
            arriving.into_tensor_arg(),
            db.clone().into_tensor_arg(),
            dc.clone().into_tensor_arg(),
            p.len as u32,
            p.dtype.into(),
        );
    }

    let rows = p.batch * p.heads;
    let da = empty(&t.x, &[p.batch, p.len, p.heads], p.dtype);
    let elements = p.batch * p.len * p.heads;
    // SAFETY: as above.
    unsafe {
        ssd_decay_carry::launch_unchecked::<R>(
            &client,
            CubeCount::Static(rows.div_ceil(UNITS_1D as usize) as u32, 1, 1),
            CubeDim::new_1d(UNITS_1D),
            totals.clone().into_tensor_arg(),
            rows as u32,
            p.chunks as u32,
        );
        ssd_decay_grad::launch_unchecked::<R>(
            &client,
            CubeCount::Static(elements.div_ceil(UNITS_1D as usize) as u32, 1, 1),
            CubeDim::new_1d(UNITS_1D),
            dcum.into_tensor_arg(),
            totals.into_tensor_arg(),
            da.clone().into_tensor_arg(),
            p.len as u32,
            p.heads as u32,
            p.dtype.into(),
        );
    }
    SsdTensors {
        x: dx,
        a: da,
        b: db,
        c: dc,
        initial_state: if p.has_init {
            grad_init
        } else {
            zeros_client(client, t.x.device.clone(), Shape::new([1]), p.dtype)
        },
    }
}

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> SsdOps
    for CubeBackend<R, F, I, BT>
{
    /// Problems the kernels do not take (packed sequences, f64, mixed
    /// storage types, sizes past 32-bit indices): the composite keeps
    /// training on the device.
    fn ssd_prefers_chunked(problem: &SsdProblem) -> bool {
        !kernels_take(problem)
    }

    fn ssd_forward(
        inputs: SsdTensors<FloatTensor<Self>>,
        args: &SsdArgs,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        if let Some(p) = plan(&inputs, args) {
            return forward_on_device(&inputs, &p);
        }
        fn wrap<B: burn::tensor::backend::Backend, const D: usize>(
            t: FloatTensor<B>,
        ) -> Tensor<B, D> {
            Tensor::from_primitive(TensorPrimitive::Float(t))
        }
        let s = Ssd::<Self> {
            x: wrap(inputs.x),
            a: wrap(inputs.a),
            b: wrap(inputs.b),
            c: wrap(inputs.c),
            chunk_size: args.chunk_size,
            initial_state: args.has_initial_state.then(|| wrap(inputs.initial_state)),
            starts: args.starts.as_deref().cloned(),
        };
        let (y, last) = ssd_chunked(s).expect("validated by ssd()");
        (y.into_primitive().tensor(), last.into_primitive().tensor())
    }

    fn ssd_backward(
        inputs: SsdTensors<FloatTensor<Self>>,
        grad_y: FloatTensor<Self>,
        grad_final: FloatTensor<Self>,
        args: &SsdArgs,
    ) -> SsdTensors<FloatTensor<Self>> {
        let plan =
            plan(&inputs, args).filter(|p| grad_y.dtype == p.dtype && grad_final.dtype == p.dtype);
        if let Some(p) = plan {
            return backward_on_device(inputs, grad_y, grad_final, &p);
        }
        let device = inputs.x.device.clone();
        let host = SsdTensors {
            x: to_host::<Self>(inputs.x),
            a: to_host::<Self>(inputs.a),
            b: to_host::<Self>(inputs.b),
            c: to_host::<Self>(inputs.c),
            initial_state: to_host::<Self>(inputs.initial_state),
        };
        let g = Flex::ssd_backward(
            host,
            to_host::<Self>(grad_y),
            to_host::<Self>(grad_final),
            args,
        );
        SsdTensors {
            x: from_host::<Self>(g.x, &device),
            a: from_host::<Self>(g.a, &device),
            b: from_host::<Self>(g.b, &device),
            c: from_host::<Self>(g.c, &device),
            initial_state: from_host::<Self>(g.initial_state, &device),
        }
    }
}
