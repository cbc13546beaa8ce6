//! Cross-entropy on CubeCL devices: one cube per row forward, one unit per
//! logit backward ([`super::kernels`]), for logits stored as f32, bf16 or
//! f16 (read as they are, f32 arithmetic; the gradient in the logits' type);
//! other storage types take the tensor-op composites.

use burn::tensor::DType;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn_cubecl::cubecl::prelude::{CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::kernels::{UNITS, cross_entropy_backward, cross_entropy_forward};
use super::{CrossEntropyOps, cross_entropy_backward_composite, cross_entropy_forward_composite};
use crate::ops::support::kernel_types::kernel_float;
use crate::ops::support::launch::{empty_f32, empty_packed, linear_cubes};

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> CrossEntropyOps
    for CubeBackend<R, F, I, BT>
{
    fn cross_entropy_forward(
        logits: FloatTensor<Self>,
        labels: IntTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [rows, classes] = logits.meta.shape().dims::<2>();
        if !kernel_float(logits.dtype) || rows == 0 || classes == 0 {
            return cross_entropy_forward_composite::<Self>(logits, labels);
        }
        let (logits, labels) = (into_contiguous(logits), into_contiguous(labels));
        let loss = empty_f32(&logits, &[rows]);
        let lse = empty_f32(&logits, &[rows]);
        let dtypes = [logits.dtype.into(), labels.dtype.into()];
        // SAFETY: logits are packed (rows, classes) with classes ≥ 1, labels
        // packed (rows); one cube per row writes that row's loss and lse and
        // reads only inside the row.
        unsafe {
            cross_entropy_forward::launch_unchecked::<R>(
                &loss.client,
                CubeCount::Static(rows as u32, 1, 1),
                CubeDim::new_1d(UNITS as u32),
                logits.into_tensor_arg(),
                labels.into_tensor_arg(),
                loss.clone().into_tensor_arg(),
                lse.clone().into_tensor_arg(),
                classes as u32,
                f32::NAN,
                dtypes,
            );
        }
        (loss, lse)
    }

    fn cross_entropy_backward(
        logits: FloatTensor<Self>,
        labels: IntTensor<Self>,
        lse: FloatTensor<Self>,
        grad_loss: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let [rows, classes] = logits.meta.shape().dims::<2>();
        let takes =
            kernel_float(logits.dtype) && lse.dtype == DType::F32 && grad_loss.dtype == DType::F32;
        if !takes || rows == 0 || classes == 0 {
            return cross_entropy_backward_composite::<Self>(logits, labels, lse, grad_loss);
        }
        let [logits, lse, grad_loss] = [logits, lse, grad_loss].map(into_contiguous);
        let labels = into_contiguous(labels);
        let grad = empty_packed(&logits, &[rows, classes], logits.dtype);
        let dtypes = [logits.dtype.into(), labels.dtype.into()];
        // SAFETY: logits and grad are packed (rows, classes), labels, lse and
        // ∂loss packed (rows); the kernel stops at rows · classes.
        unsafe {
            cross_entropy_backward::launch_unchecked::<R>(
                &grad.client,
                linear_cubes(rows * classes),
                CubeDim::new_1d(UNITS as u32),
                logits.into_tensor_arg(),
                labels.into_tensor_arg(),
                lse.into_tensor_arg(),
                grad_loss.into_tensor_arg(),
                grad.clone().into_tensor_arg(),
                classes as u32,
                dtypes,
            );
        }
        grad
    }
}
