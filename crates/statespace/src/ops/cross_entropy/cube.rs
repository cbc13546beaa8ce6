//! Cross-entropy on CubeCL devices: one cube per row forward, one unit per
//! logit backward ([`super::kernels`]), for f32 logits; other storage types
//! take the tensor-op composites.

use burn::tensor::DType;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn_cubecl::cubecl::prelude::{CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::kernels::{UNITS, cross_entropy_backward, cross_entropy_forward};
use super::{CrossEntropyOps, cross_entropy_backward_composite, cross_entropy_forward_composite};
use crate::ops::support::launch::{empty_f32, linear_cubes};

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> CrossEntropyOps
    for CubeBackend<R, F, I, BT>
{
    fn cross_entropy_forward(
        logits: FloatTensor<Self>,
        labels: IntTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let [rows, classes] = logits.meta.shape().dims::<2>();
        if logits.dtype != DType::F32 || rows == 0 || classes == 0 {
            return cross_entropy_forward_composite::<Self>(logits, labels);
        }
        let (logits, labels) = (into_contiguous(logits), into_contiguous(labels));
        let loss = empty_f32(&logits, &[rows]);
        let lse = empty_f32(&logits, &[rows]);
        let label_dtype = labels.dtype;
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
                label_dtype.into(),
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
        let all_f32 = [&logits, &lse, &grad_loss]
            .iter()
            .all(|t| t.dtype == DType::F32);
        if !all_f32 || rows == 0 || classes == 0 {
            return cross_entropy_backward_composite::<Self>(logits, labels, lse, grad_loss);
        }
        let [logits, lse, grad_loss] = [logits, lse, grad_loss].map(into_contiguous);
        let labels = into_contiguous(labels);
        let grad = empty_f32(&logits, &[rows, classes]);
        let label_dtype = labels.dtype;
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
                label_dtype.into(),
            );
        }
        grad
    }
}
