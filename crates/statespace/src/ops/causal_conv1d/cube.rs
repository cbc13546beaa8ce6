//! The causal convolution on CubeCL devices: the kernels of
//! [`super::kernels`] for the convolutions [`super::plan`] takes (every
//! tensor of one storage type, f32, bf16 or f16; mixed precision's 16-bit
//! tensors are read and written as they are), the tensor-op composites for
//! the others (about 30 launches and two leading-axis sums on few cubes).

use burn::tensor::DType;
use burn::tensor::Shape;
use burn::tensor::ops::FloatTensor;
use burn_cubecl::cubecl::prelude::{CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::zeros_client;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::kernels::{conv_input_grads, conv_pre_activations, conv_weight_grads};
use super::plan::{ConvPlan, Grid};
use super::{CausalConv1dOps, ConvGrads, conv_backward_composite, conv_forward_composite};
use crate::ops::support::index_limit::reach;
use crate::ops::support::kernel_types::kernel_float;
use crate::ops::support::launch::{empty_packed, to_dtype};

fn zeros<R: CubeRuntime>(like: &CubeTensor<R>, shape: &[usize]) -> CubeTensor<R> {
    zeros_client(
        like.client.clone(),
        like.device.clone(),
        Shape::from(shape.to_vec()),
        DType::F32,
    )
}

/// A plan's grid as CubeCL's launch arguments.
fn launch_dims(([x, y, z], [units_x, units_y]): Grid) -> (CubeCount, CubeDim) {
    (
        CubeCount::Static(x, y, z),
        CubeDim::new_2d(units_x, units_y),
    )
}

/// What one [`conv_pre_activations`] launch writes.
enum PreActivationPass {
    /// y = p, or silu(p).
    Forward { silu: bool },
    /// ĝ = ∂y · silu′(p).
    SiluGrad,
}

/// One pass of [`conv_pre_activations`] into a new (B, L, D) tensor, in x's
/// type for the forward and f32 for the SiLU gradient; `grad_y` is read
/// only by [`PreActivationPass::SiluGrad`].
fn pre_activations<R: CubeRuntime>(
    x: &CubeTensor<R>,
    history: &CubeTensor<R>,
    weight: &CubeTensor<R>,
    bias: &CubeTensor<R>,
    grad_y: &CubeTensor<R>,
    plan: &ConvPlan,
    pass: PreActivationPass,
) -> CubeTensor<R> {
    let ConvPlan {
        batch, len, dim, ..
    } = *plan;
    let (silu, grad) = match pass {
        PreActivationPass::Forward { silu } => (silu, false),
        PreActivationPass::SiluGrad => (true, true),
    };
    let out_dtype = if grad { DType::F32 } else { x.dtype };
    let out = empty_packed(x, &[batch, len, dim], out_dtype);
    let (count, cube_dim) = launch_dims(plan.run_grid(len));
    // SAFETY: x, history and grad_y are read through their strides at the
    // shapes the plan checked; weight (D, K) and bias (D) are contiguous (the
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
            plan.taps,
            silu,
            grad,
            [x.dtype.into(), out_dtype.into()],
        );
    }
    out
}

/// The plan of a convolution of `tensors` (x first) with `weight` (D, K),
/// or `None` where the kernels do not take it.
fn plan<R: CubeRuntime>(tensors: &[&CubeTensor<R>], weight: &CubeTensor<R>) -> Option<ConvPlan> {
    let dtype = tensors[0].dtype;
    let one_kernel_type = kernel_float(dtype) && tensors.iter().all(|t| t.dtype == dtype);
    let reaches: Vec<u128> = tensors
        .iter()
        .map(|t| reach(t.meta.shape().as_slice(), t.meta.strides()))
        .collect();
    let x = tensors[0].meta.shape().dims::<3>();
    let taps = weight.meta.shape().dims::<2>()[1];
    ConvPlan::new(x, taps, one_kernel_type, &reaches)
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
        let inputs = [&x, &history, &weight, &bias];
        let Some(plan) = plan(&inputs, &weight) else {
            return conv_forward_composite::<Self>(x, history, weight, bias, silu);
        };
        let (weight, bias) = (into_contiguous(weight), into_contiguous(bias));
        // x stands in for the ∂y this pass does not read.
        let pass = PreActivationPass::Forward { silu };
        pre_activations(&x, &history, &weight, &bias, &x, &plan, pass)
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
        let Some(plan) = plan(&tensors, &weight) else {
            return conv_backward_composite::<Self>(x, history, weight, bias, silu, grad_y);
        };
        let (weight, bias) = (into_contiguous(weight), into_contiguous(bias));
        let ConvPlan {
            batch,
            len,
            dim,
            taps,
        } = plan;
        let dtype = x.dtype;
        // ĝ in f32 (the SiLU gradient, or ∂y widened).
        let grad_pre = if silu {
            let pass = PreActivationPass::SiluGrad;
            pre_activations(&x, &history, &weight, &bias, &grad_y, &plan, pass)
        } else {
            into_contiguous(to_dtype::<R, F, I, BT>(grad_y, DType::F32))
        };
        let grad_x = empty_packed(&x, &[batch, len, dim], dtype);
        let grad_history = empty_packed(&x, &[batch, taps - 1, dim], dtype);
        let (count, cube_dim) = launch_dims(plan.run_grid(len + taps - 1));
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
                dtype.into(),
            );
        }
        let grad_weight = zeros(&x, &[dim, taps]);
        let grad_bias = zeros(&x, &[dim]);
        let (grid, rows_per_cube) = plan.weight_grad_grid();
        let (count, cube_dim) = launch_dims(grid);
        // SAFETY: x and history through their strides, grad_pre contiguous
        // (B·L rows of D); the accumulators are (D, K) and (D).
        unsafe {
            conv_weight_grads::launch_unchecked::<R>(
                &grad_pre.client.clone(),
                count,
                cube_dim,
                x.into_tensor_arg(),
                history.into_tensor_arg(),
                grad_pre.into_tensor_arg(),
                grad_weight.clone().into_tensor_arg(),
                grad_bias.clone().into_tensor_arg(),
                len as u32,
                dim as u32,
                rows_per_cube as u32,
                taps,
                dtype.into(),
            );
        }
        // The f32 sums in the weights' type (two small casts under mixed
        // precision).
        ConvGrads {
            x: grad_x,
            history: grad_history,
            weight: to_dtype::<R, F, I, BT>(grad_weight, dtype),
            bias: to_dtype::<R, F, I, BT>(grad_bias, dtype),
        }
    }
}
