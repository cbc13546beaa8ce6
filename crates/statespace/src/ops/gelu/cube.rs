//! GELU on CubeCL devices: one kernel each way ([`super::kernels`]) for f32
//! tensors; other storage types take the composites.

use burn::tensor::DType;
use burn::tensor::ops::FloatTensor;
use burn_cubecl::cubecl::prelude::CubeDim;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::kernels::{gelu_backward, gelu_forward};
use super::{GeluOps, gelu_backward_composite, gelu_composite};
use crate::ops::support::launch::{LINEAR_UNITS, empty_f32, linear_cubes};

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> GeluOps
    for CubeBackend<R, F, I, BT>
{
    fn gelu_exact(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype != DType::F32 {
            return gelu_composite::<Self>(x);
        }
        let x = into_contiguous(x);
        let shape = x.meta.shape().clone();
        let y = empty_f32(&x, shape.as_slice());
        let n = shape.num_elements();
        if n > 0 {
            // SAFETY: x and y are packed with n elements; the kernel stops
            // at n.
            unsafe {
                gelu_forward::launch_unchecked::<R>(
                    &y.client,
                    linear_cubes(n),
                    CubeDim::new_1d(LINEAR_UNITS as u32),
                    x.into_tensor_arg(),
                    y.clone().into_tensor_arg(),
                );
            }
        }
        y
    }

    fn gelu_exact_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype != DType::F32 || grad.dtype != DType::F32 {
            return gelu_backward_composite::<Self>(x, grad);
        }
        let (x, grad) = (into_contiguous(x), into_contiguous(grad));
        let shape = x.meta.shape().clone();
        let grad_x = empty_f32(&x, shape.as_slice());
        let n = shape.num_elements();
        if n > 0 {
            // SAFETY: x, grad and grad_x are packed with n elements; the
            // kernel stops at n.
            unsafe {
                gelu_backward::launch_unchecked::<R>(
                    &grad_x.client,
                    linear_cubes(n),
                    CubeDim::new_1d(LINEAR_UNITS as u32),
                    x.into_tensor_arg(),
                    grad.into_tensor_arg(),
                    grad_x.clone().into_tensor_arg(),
                );
            }
        }
        grad_x
    }
}
