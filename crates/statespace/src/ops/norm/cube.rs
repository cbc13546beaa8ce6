//! The norm on CubeCL devices: one kernel forward, one backward plus the
//! column sums of [`MatmulOps`] for ∂w and ∂b ([`super::kernels`]), for f32
//! tensors, and for 16-bit ones (mixed precision) widened to f32, with y and
//! the gradients narrowed back (the row statistics stay f32); other storage
//! types take the tensor-op composites.

use burn::tensor::DType;
use burn::tensor::ops::FloatTensor;
use burn_cubecl::cubecl::prelude::{CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::kernels::{LANES, ROWS_PER_CUBE, norm_backward, norm_forward};
use super::{
    NormForward, NormGrads, NormKind, NormOps, norm_backward_composite, norm_forward_composite,
};
use crate::ops::MatmulOps;
use crate::ops::support::launch::{empty_f32, is_half, to_dtype};

fn launch_shape(rows: usize) -> (CubeCount, CubeDim) {
    (
        CubeCount::Static(rows.div_ceil(ROWS_PER_CUBE) as u32, 1, 1),
        CubeDim::new_2d(LANES as u32, ROWS_PER_CUBE as u32),
    )
}

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> NormOps
    for CubeBackend<R, F, I, BT>
{
    fn norm_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        eps: f64,
        kind: NormKind,
    ) -> NormForward<FloatTensor<Self>> {
        let inputs = [Some(&x), Some(&weight), bias.as_ref()];
        if inputs.into_iter().flatten().any(|t| is_half(t.dtype)) {
            let dtype = x.dtype;
            let wide = |t| to_dtype::<R, F, I, BT>(t, DType::F32);
            let NormForward { y, mean, rstd } =
                Self::norm_forward(wide(x), wide(weight), bias.map(wide), eps, kind);
            return NormForward {
                y: to_dtype::<R, F, I, BT>(y, dtype),
                mean,
                rstd,
            };
        }
        let all_f32 = inputs.into_iter().flatten().all(|t| t.dtype == DType::F32);
        if !all_f32 {
            return norm_forward_composite::<Self>(x, weight, bias, eps, kind);
        }
        let [rows, dim] = x.meta.shape().dims::<2>();
        let (x, weight) = (into_contiguous(x), into_contiguous(weight));
        let has_bias = bias.is_some();
        let bias = bias.map(into_contiguous).unwrap_or_else(|| weight.clone());
        let y = empty_f32(&x, &[rows, dim]);
        let mean = empty_f32(&x, &[rows]);
        let rstd = empty_f32(&x, &[rows]);
        if rows > 0 {
            let (count, cube_dim) = launch_shape(rows);
            // SAFETY: x and y are packed (rows, dim), weight and bias packed
            // (dim), mean and rstd (rows); the kernel stops at row `rows`
            // and column `dim`.
            unsafe {
                norm_forward::launch_unchecked::<R>(
                    &y.client,
                    count,
                    cube_dim,
                    x.into_tensor_arg(),
                    weight.into_tensor_arg(),
                    bias.into_tensor_arg(),
                    y.clone().into_tensor_arg(),
                    mean.clone().into_tensor_arg(),
                    rstd.clone().into_tensor_arg(),
                    dim as u32,
                    eps as f32,
                    kind.centred(),
                    has_bias,
                );
            }
        }
        NormForward { y, mean, rstd }
    }

    fn norm_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        (mean, rstd): (FloatTensor<Self>, FloatTensor<Self>),
        kind: NormKind,
        grad_y: FloatTensor<Self>,
    ) -> NormGrads<FloatTensor<Self>> {
        let inputs = [&x, &weight, &mean, &rstd, &grad_y];
        if inputs.iter().any(|t| is_half(t.dtype)) {
            let (x_dtype, weight_dtype) = (x.dtype, weight.dtype);
            let wide = |t| to_dtype::<R, F, I, BT>(t, DType::F32);
            let [x, weight, mean, rstd, grad_y] = [x, weight, mean, rstd, grad_y].map(wide);
            let g = Self::norm_backward(x, weight, (mean, rstd), kind, grad_y);
            // The bias has the weight's type.
            let narrow = |g, dtype| to_dtype::<R, F, I, BT>(g, dtype);
            return NormGrads {
                x: narrow(g.x, x_dtype),
                weight: narrow(g.weight, weight_dtype),
                bias: g.bias.map(|b| narrow(b, weight_dtype)),
            };
        }
        let all_f32 = inputs.iter().all(|t| t.dtype == DType::F32);
        if !all_f32 {
            return norm_backward_composite::<Self>(x, weight, (mean, rstd), kind, grad_y);
        }
        let [rows, dim] = x.meta.shape().dims::<2>();
        let [x, weight, mean, rstd, grad_y] = [x, weight, mean, rstd, grad_y].map(into_contiguous);
        let grad_x = empty_f32(&x, &[rows, dim]);
        let grad_y_x_hat = empty_f32(&x, &[rows, dim]);
        if rows > 0 {
            let (count, cube_dim) = launch_shape(rows);
            // SAFETY: x, ∂y and both outputs are packed (rows, dim), weight
            // packed (dim), mean and rstd (rows); the kernel stops at row
            // `rows` and column `dim`.
            unsafe {
                norm_backward::launch_unchecked::<R>(
                    &x.client,
                    count,
                    cube_dim,
                    x.clone().into_tensor_arg(),
                    weight.into_tensor_arg(),
                    mean.into_tensor_arg(),
                    rstd.into_tensor_arg(),
                    grad_y.clone().into_tensor_arg(),
                    grad_x.clone().into_tensor_arg(),
                    grad_y_x_hat.clone().into_tensor_arg(),
                    dim as u32,
                    kind.centred(),
                );
            }
        }
        NormGrads {
            x: grad_x,
            weight: Self::column_sum(grad_y_x_hat),
            bias: kind.centred().then(|| Self::column_sum(grad_y)),
        }
    }
}
