//! The causal convolution on CubeCL devices: the kernels of
//! [`super::kernels`] for f32 tensors (other storage types take the
//! tensor-op composites).

use burn::tensor::DType;
use burn::tensor::Shape;
use burn::tensor::ops::FloatTensor;
use burn_cubecl::cubecl::prelude::{CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::zeros_client;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::kernels::{
    CHANNELS, ROW_GROUPS, RUN, conv_input_grads, conv_pre_activations, conv_weight_grads,
};
use super::{CausalConv1dOps, ConvGrads, conv_backward_composite, conv_forward_composite};
use crate::ops::support::launch::empty_f32;

/// Cubes of the weight-gradient kernel, about one device fill.
const TARGET_CUBES: usize = 1024;

fn zeros<R: CubeRuntime>(like: &CubeTensor<R>, shape: &[usize]) -> CubeTensor<R> {
    zeros_client(
        like.client.clone(),
        like.device.clone(),
        Shape::from(shape.to_vec()),
        DType::F32,
    )
}

/// The grid and cube of a run kernel over `rows` steps of every channel
/// of every batch (see [`RUN`]).
fn run_launch(batch: usize, rows: usize, dim: usize) -> (CubeCount, CubeDim) {
    (
        CubeCount::Static(
            dim.div_ceil(CHANNELS) as u32,
            rows.div_ceil(ROW_GROUPS * RUN) as u32,
            batch as u32,
        ),
        CubeDim::new_2d(CHANNELS as u32, ROW_GROUPS as u32),
    )
}

/// What one [`conv_pre_activations`] launch writes.
enum PreActivationPass {
    /// y = p, or silu(p).
    Forward { silu: bool },
    /// ĝ = ∂y · silu′(p).
    SiluGrad,
}

/// One pass of [`conv_pre_activations`] into a new (B, L, D) tensor; `grad_y`
/// is read only by [`PreActivationPass::SiluGrad`].
fn pre_activations<R: CubeRuntime>(
    x: &CubeTensor<R>,
    history: &CubeTensor<R>,
    weight: &CubeTensor<R>,
    bias: &CubeTensor<R>,
    grad_y: &CubeTensor<R>,
    [batch, len, dim, taps]: [usize; 4],
    pass: PreActivationPass,
) -> CubeTensor<R> {
    let out = empty_f32(x, &[batch, len, dim]);
    let (count, cube_dim) = run_launch(batch, len, dim);
    let (silu, grad) = match pass {
        PreActivationPass::Forward { silu } => (silu, false),
        PreActivationPass::SiluGrad => (true, true),
    };
    // SAFETY: x, history and grad_y are read through their strides at the
    // shapes `sizes` checked; weight (D, K) and bias (D) are contiguous (the
    // callers made them so) and `out` is allocated packed; the kernel stops
    // at channel D and step L.
    unsafe {
        conv_pre_activations::launch_unchecked::<R>(
            &x.client,
            count,
            cube_dim,
            x.clone().into_tensor_arg(),
            history.clone().into_tensor_arg(),
            weight.clone().into_tensor_arg(),
            bias.clone().into_tensor_arg(),
            grad_y.clone().into_tensor_arg(),
            out.clone().into_tensor_arg(),
            len as u32,
            dim as u32,
            taps,
            silu,
            grad,
        );
    }
    out
}

/// (B, L, D, K) when every tensor is f32 and the kernels apply.
fn sizes<R: CubeRuntime>(tensors: &[&CubeTensor<R>], weight: &CubeTensor<R>) -> Option<[usize; 4]> {
    if tensors.iter().any(|t| t.dtype != DType::F32) {
        return None;
    }
    let [batch, len, dim] = tensors[0].meta.shape().dims::<3>();
    let taps = weight.meta.shape().dims::<2>()[1];
    // CUDA's grid limit of 65,535 along y and z (the run kernels' steps
    // and batch).
    let fits = batch < 65_536 && (len + taps).div_ceil(ROW_GROUPS * RUN) < 65_536;
    (batch * len * dim > 0 && taps > 0 && fits).then_some([batch, len, dim, taps])
}

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> CausalConv1dOps
    for CubeBackend<R, F, I, BT>
{
    fn causal_conv1d_forward(
        x: FloatTensor<Self>,
        history: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        silu: bool,
    ) -> FloatTensor<Self> {
        let Some([batch, len, dim, taps]) = sizes(&[&x, &history, &weight, &bias], &weight) else {
            return conv_forward_composite::<Self>(x, history, weight, bias, silu);
        };
        let (weight, bias) = (into_contiguous(weight), into_contiguous(bias));
        // x stands in for the ∂y this pass does not read.
        let pass = PreActivationPass::Forward { silu };
        pre_activations(
            &x,
            &history,
            &weight,
            &bias,
            &x,
            [batch, len, dim, taps],
            pass,
        )
    }

    fn causal_conv1d_backward(
        x: FloatTensor<Self>,
        history: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        silu: bool,
        grad_y: FloatTensor<Self>,
    ) -> ConvGrads<FloatTensor<Self>> {
        let tensors = [&x, &history, &weight, &bias, &grad_y];
        let Some([batch, len, dim, taps]) = sizes(&tensors, &weight) else {
            return conv_backward_composite::<Self>(x, history, weight, bias, silu, grad_y);
        };
        let (weight, bias) = (into_contiguous(weight), into_contiguous(bias));
        let grad_pre = if silu {
            let sizes = [batch, len, dim, taps];
            let pass = PreActivationPass::SiluGrad;
            pre_activations(&x, &history, &weight, &bias, &grad_y, sizes, pass)
        } else {
            into_contiguous(grad_y)
        };
        let grad_x = empty_f32(&x, &[batch, len, dim]);
        let grad_history = empty_f32(&x, &[batch, taps - 1, dim]);
        let (count, cube_dim) = run_launch(batch, len + taps - 1, dim);
        // SAFETY: grad_pre (B, L, D) and weight (D, K) are contiguous, the
        // outputs allocated at the shapes the kernel writes.
        unsafe {
            conv_input_grads::launch_unchecked::<R>(
                &x.client,
                count,
                cube_dim,
                grad_pre.clone().into_tensor_arg(),
                weight.clone().into_tensor_arg(),
                grad_x.clone().into_tensor_arg(),
                grad_history.clone().into_tensor_arg(),
                len as u32,
                dim as u32,
                taps,
            );
        }
        let grad_weight = zeros(&x, &[dim, taps]);
        let grad_bias = zeros(&x, &[dim]);
        let column_tiles = dim.div_ceil(CHANNELS);
        let rows = batch * len;
        let blocks = TARGET_CUBES
            .div_ceil(column_tiles)
            .min(rows.div_ceil(ROW_GROUPS));
        let rows_per_cube = rows.div_ceil(blocks);
        // SAFETY: x and history through their strides, grad_pre contiguous
        // (B·L rows of D); the accumulators are (D, K) and (D).
        unsafe {
            conv_weight_grads::launch_unchecked::<R>(
                &grad_pre.client.clone(),
                CubeCount::Static(column_tiles as u32, rows.div_ceil(rows_per_cube) as u32, 1),
                CubeDim::new_2d(CHANNELS as u32, ROW_GROUPS as u32),
                x.into_tensor_arg(),
                history.into_tensor_arg(),
                grad_pre.into_tensor_arg(),
                grad_weight.clone().into_tensor_arg(),
                grad_bias.clone().into_tensor_arg(),
                len as u32,
                dim as u32,
                rows_per_cube as u32,
                taps,
            );
        }
        ConvGrads {
            x: grad_x,
            history: grad_history,
            weight: grad_weight,
            bias: grad_bias,
        }
    }
}
