//! The DPLR generating function on CubeCL devices, in f64 whatever the
//! inputs' type (f32 inputs are widened, the results narrowed back):
//! forward one kernel, one unit per (channel, node); backward one kernel
//! per (channel, node) for α, β and ∂Δ's terms, one per (channel, stored
//! mode) for the other gradients, and one sum over the nodes for ∂Δ
//! (`kernels.rs`). Until 2026-12-07 this op ran the CPU kernel through
//! host memory each way: 714 ms a ListOps S4 training step on an H100.

use burn::tensor::ops::{FloatTensor, FloatTensorOps};
use burn::tensor::{DType, TensorData};
use burn_cubecl::cubecl::prelude::CubeDim;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use num_complex::Complex64;

use super::kernels::{
    DplrParamsLaunch, ModeGradsLaunch, WoodburyTermsLaunch, dplr_spectrum_forward,
    dplr_spectrum_mode_grads, dplr_spectrum_node_terms,
};
use super::{DplrSpectrumInputs, DplrSpectrumOps};
use crate::ops::support::launch::{LINEAR_UNITS, empty_packed, linear_cubes, to_dtype};

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> DplrSpectrumOps
    for CubeBackend<R, F, I, BT>
{
    fn dplr_spectrum(
        inputs: DplrSpectrumInputs<FloatTensor<Self>>,
        nodes: &[Complex64],
    ) -> FloatTensor<Self> {
        let dtype = inputs.dt.dtype;
        let s = widened::<R, F, I, BT>(inputs);
        let d = Dims::of(&s, nodes);
        let out = empty_packed(&s.dt, &[2, d.heads, d.channels, d.count], DType::F64);
        let units = d.heads * d.count;
        if units > 0 {
            let nodes = node_tensor::<R, F, I, BT>(nodes, &s.dt);
            // SAFETY: every input is packed f64 of the shape `Dims` read
            // from it, nodes (S, 2), out (2, H, Cc, S); one unit per
            // (h, k), stopping at H·S.
            unsafe {
                dplr_spectrum_forward::launch_unchecked::<R>(
                    &s.dt.client,
                    linear_cubes(units),
                    CubeDim::new_1d(LINEAR_UNITS as u32),
                    params_arg(&s),
                    nodes.into_tensor_arg(),
                    out.clone().into_tensor_arg(),
                    d.heads as u32,
                    d.modes as u32,
                    d.count as u32,
                    d.rank,
                    d.channels,
                );
            }
        }
        to_dtype::<R, F, I, BT>(out, dtype)
    }

    fn dplr_spectrum_backward(
        inputs: DplrSpectrumInputs<FloatTensor<Self>>,
        nodes: &[Complex64],
        grad: FloatTensor<Self>,
    ) -> DplrSpectrumInputs<FloatTensor<Self>> {
        let dtypes = [
            &inputs.dt,
            &inputs.lambda_re,
            &inputs.lambda_im,
            &inputs.b_re,
            &inputs.b_im,
            &inputs.p_re,
            &inputs.p_im,
            &inputs.c_re,
            &inputs.c_im,
        ]
        .map(|t| t.dtype);
        let s = widened::<R, F, I, BT>(inputs);
        let grad = into_contiguous(to_dtype::<R, F, I, BT>(grad, DType::F64));
        let d = Dims::of(&s, nodes);
        let (heads, modes, rank, channels, count) = (d.heads, d.modes, d.rank, d.channels, d.count);
        let like = &s.dt;
        let empty = |shape: &[usize]| empty_packed(like, shape, DType::F64);
        let out = DplrSpectrumInputs {
            dt: empty(&[heads]),
            lambda_re: empty(&[heads, modes]),
            lambda_im: empty(&[heads, modes]),
            b_re: empty(&[heads, modes]),
            b_im: empty(&[heads, modes]),
            p_re: empty(&[rank, heads, modes]),
            p_im: empty(&[rank, heads, modes]),
            c_re: empty(&[channels, heads, modes]),
            c_im: empty(&[channels, heads, modes]),
        };
        let out = if count == 0 || heads == 0 {
            // No node: every gradient is zero.
            out.map(|t| {
                let shape = t.meta.shape().clone();
                Self::float_zeros(shape, &t.device, DType::F64.into())
            })
        } else {
            let nodes = node_tensor::<R, F, I, BT>(nodes, like);
            let solves = Solves {
                alpha_re: empty(&[heads, count, rank]),
                alpha_im: empty(&[heads, count, rank]),
                beta_re: empty(&[heads, count, channels, rank]),
                beta_im: empty(&[heads, count, channels, rank]),
            };
            let dt_terms = empty(&[heads, count]);
            // SAFETY: inputs packed f64 of the shapes `Dims` read, nodes
            // (S, 2), grad (2, H, Cc, S), the α, β and term buffers packed
            // of the shapes above; one unit per (h, k), stopping at H·S.
            unsafe {
                dplr_spectrum_node_terms::launch_unchecked::<R>(
                    &like.client,
                    linear_cubes(heads * count),
                    CubeDim::new_1d(LINEAR_UNITS as u32),
                    params_arg(&s),
                    nodes.clone().into_tensor_arg(),
                    grad.clone().into_tensor_arg(),
                    solves_arg(&solves),
                    dt_terms.clone().into_tensor_arg(),
                    heads as u32,
                    modes as u32,
                    count as u32,
                    rank,
                    channels,
                );
            }
            if modes > 0 {
                // SAFETY: as above, the gradients packed of the inputs'
                // shapes; one unit per (h, n), stopping at H·N.
                unsafe {
                    dplr_spectrum_mode_grads::launch_unchecked::<R>(
                        &like.client,
                        linear_cubes(heads * modes),
                        CubeDim::new_1d(LINEAR_UNITS as u32),
                        params_arg(&s),
                        nodes.into_tensor_arg(),
                        grad.into_tensor_arg(),
                        solves_arg(&solves),
                        grads_arg(&out),
                        heads as u32,
                        modes as u32,
                        count as u32,
                        rank,
                        channels,
                    );
                }
            }
            let dt = Self::float_reshape(Self::float_sum_dim(dt_terms, 1), [heads].into());
            DplrSpectrumInputs { dt, ..out }
        };
        let mut dtypes = dtypes.into_iter();
        out.map(|t| to_dtype::<R, F, I, BT>(t, dtypes.next().expect("nine dtypes")))
    }
}

/// The sizes the kernels take, read from the packed inputs.
struct Dims {
    heads: usize,
    modes: usize,
    rank: usize,
    channels: usize,
    count: usize,
}

impl Dims {
    fn of<R: CubeRuntime>(s: &DplrSpectrumInputs<CubeTensor<R>>, nodes: &[Complex64]) -> Self {
        let [rank, heads, modes] = s.p_re.meta.shape().dims::<3>();
        let channels = s.c_re.meta.shape().dims::<3>()[0];
        Self {
            heads,
            modes,
            rank,
            channels,
            count: nodes.len(),
        }
    }
}

/// The nine inputs packed in f64.
fn widened<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement>(
    inputs: DplrSpectrumInputs<CubeTensor<R>>,
) -> DplrSpectrumInputs<CubeTensor<R>> {
    inputs.map(|t| into_contiguous(to_dtype::<R, F, I, BT>(t, DType::F64)))
}

/// The nodes as a packed (S, 2) f64 tensor on `like`'s device.
fn node_tensor<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement>(
    nodes: &[Complex64],
    like: &CubeTensor<R>,
) -> CubeTensor<R> {
    let values: Vec<f64> = nodes.iter().flat_map(|s| [s.re, s.im]).collect();
    let data = TensorData::new(values, [nodes.len(), 2]);
    into_contiguous(CubeBackend::<R, F, I, BT>::float_from_data(
        data,
        &like.device,
    ))
}

/// The Woodbury solve's buffers between the backward's two kernels: α
/// (H, S, r) and β (H, S, Cc, r), real and imaginary parts apart.
struct Solves<R: CubeRuntime> {
    alpha_re: CubeTensor<R>,
    alpha_im: CubeTensor<R>,
    beta_re: CubeTensor<R>,
    beta_im: CubeTensor<R>,
}

/// The nine packed inputs as the kernels' [`DplrParams`](super::kernels::DplrParams).
fn params_arg<R: CubeRuntime>(s: &DplrSpectrumInputs<CubeTensor<R>>) -> DplrParamsLaunch<R> {
    let arg = |t: &CubeTensor<R>| t.clone().into_tensor_arg();
    DplrParamsLaunch::new(
        arg(&s.dt),
        arg(&s.lambda_re),
        arg(&s.lambda_im),
        arg(&s.b_re),
        arg(&s.b_im),
        arg(&s.p_re),
        arg(&s.p_im),
        arg(&s.c_re),
        arg(&s.c_im),
    )
}

/// α and β as the kernels' [`WoodburyTerms`](super::kernels::WoodburyTerms).
fn solves_arg<R: CubeRuntime>(s: &Solves<R>) -> WoodburyTermsLaunch<R> {
    let arg = |t: &CubeTensor<R>| t.clone().into_tensor_arg();
    WoodburyTermsLaunch::new(
        arg(&s.alpha_re),
        arg(&s.alpha_im),
        arg(&s.beta_re),
        arg(&s.beta_im),
    )
}

/// The gradients but ∂Δ as the kernels' [`ModeGrads`](super::kernels::ModeGrads).
fn grads_arg<R: CubeRuntime>(g: &DplrSpectrumInputs<CubeTensor<R>>) -> ModeGradsLaunch<R> {
    let arg = |t: &CubeTensor<R>| t.clone().into_tensor_arg();
    ModeGradsLaunch::new(
        arg(&g.lambda_re),
        arg(&g.lambda_im),
        arg(&g.b_re),
        arg(&g.b_im),
        arg(&g.p_re),
        arg(&g.p_im),
        arg(&g.c_re),
        arg(&g.c_im),
    )
}
