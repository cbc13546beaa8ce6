//! The norm on CubeCL devices: one kernel forward, one backward plus the
//! column sums of [`MatmulOps`] for ∂w and ∂b ([`super::kernels`]), for
//! tensors of one storage type the kernels take (f32, bf16 or f16: mixed
//! precision's 16-bit tensors as they are; the row statistics and the
//! column sums are f32, the sums narrowed to the weight's type); other
//! storage types take the tensor-op composites.

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
use crate::ops::support::kernel_types::kernel_float;
use crate::ops::support::launch::{empty_f32, empty_packed, to_dtype};

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
        let dtype = x.dtype;
        let inputs = [Some(&x), Some(&weight), bias.as_ref()];
        if !(kernel_float(dtype) && inputs.into_iter().flatten().all(|t| t.dtype == dtype)) {
            return norm_forward_composite::<Self>(x, weight, bias, eps, kind);
        }
        let [rows, dim] = x.meta.shape().dims::<2>();
        let (x, weight) = (into_contiguous(x), into_contiguous(weight));
        let has_bias = bias.is_some();
        let bias = bias.map(into_contiguous).unwrap_or_else(|| weight.clone());
        let y = empty_packed(&x, &[rows, dim], dtype);
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
                    dtype.into(),
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
        let dtype = x.dtype;
        let stored = [&x, &weight, &grad_y].iter().all(|t| t.dtype == dtype);
        let stats = [&mean, &rstd].iter().all(|t| t.dtype == DType::F32);
        if !(kernel_float(dtype) && stored && stats) {
            return norm_backward_composite::<Self>(x, weight, (mean, rstd), kind, grad_y);
        }
        let [rows, dim] = x.meta.shape().dims::<2>();
        let [x, weight, mean, rstd, grad_y] = [x, weight, mean, rstd, grad_y].map(into_contiguous);
        let grad_x = empty_packed(&x, &[rows, dim], dtype);
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
                    dtype.into(),
                );
            }
        }
        // The column sums in f32, narrowed to the weight's (and bias's) type.
        let narrow = |t| to_dtype::<R, F, I, BT>(t, dtype);
        let bias = kind.centred().then(|| {
            let grad_y = to_dtype::<R, F, I, BT>(grad_y, DType::F32);
            narrow(Self::column_sum(grad_y))
        });
        NormGrads {
            x: grad_x,
            weight: narrow(Self::column_sum(grad_y_x_hat)),
            bias,
        }
    }
}
