//! GLU on CubeCL devices: one kernel each way ([`super::kernels`]) for f32
//! tensors; other storage types take the composites.

use burn::tensor::DType;
use burn::tensor::ops::FloatTensor;
use burn_cubecl::cubecl::prelude::CubeDim;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::kernels::{glu_backward, glu_forward};
use super::{GluOps, glu_backward_composite, glu_composite};
use crate::ops::support::launch::{LINEAR_UNITS, empty_f32, linear_cubes};

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> GluOps
    for CubeBackend<R, F, I, BT>
{
    fn glu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype != DType::F32 {
            return glu_composite::<Self>(x);
        }
        let x = into_contiguous(x);
        let mut shape = x.meta.shape().clone();
        let last = shape.num_dims() - 1;
        let h = shape[last] / 2;
        shape[last] = h;
        let y = empty_f32(&x, shape.as_slice());
        let n = shape.num_elements();
        if n > 0 {
            // SAFETY: x is packed with 2n elements and y with n, in rows of
            // 2h and h; the kernel stops at n.
            unsafe {
                glu_forward::launch_unchecked::<R>(
                    &y.client,
                    linear_cubes(n),
                    CubeDim::new_1d(LINEAR_UNITS as u32),
                    x.into_tensor_arg(),
                    y.clone().into_tensor_arg(),
                    h as u32,
                );
            }
        }
        y
    }

    fn glu_backward(x: FloatTensor<Self>, grad: FloatTensor<Self>) -> FloatTensor<Self> {
        if x.dtype != DType::F32 || grad.dtype != DType::F32 {
            return glu_backward_composite::<Self>(x, grad);
        }
        let (x, grad) = (into_contiguous(x), into_contiguous(grad));
        let shape = x.meta.shape().clone();
        let h = shape[shape.num_dims() - 1] / 2;
        let grad_x = empty_f32(&x, shape.as_slice());
        let n = grad.meta.shape().num_elements();
        if n > 0 {
            // SAFETY: grad is packed with n elements, x and grad_x with 2n,
            // in rows of h and 2h; the kernel stops at n.
            unsafe {
                glu_backward::launch_unchecked::<R>(
                    &grad_x.client,
                    linear_cubes(n),
                    CubeDim::new_1d(LINEAR_UNITS as u32),
                    x.into_tensor_arg(),
                    grad.into_tensor_arg(),
                    grad_x.clone().into_tensor_arg(),
                    h as u32,
                );
            }
        }
        grad_x
    }
}
