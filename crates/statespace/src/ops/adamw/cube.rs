//! The AdamW step and the squared norm on CubeCL devices: one kernel per
//! parameter each ([`super::kernels`]), for f32 tensors; other storage
//! types take the tensor-op composites.

use burn::tensor::DType;
use burn::tensor::ops::FloatTensor;
use burn_cubecl::cubecl::prelude::{CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::zeros_client;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::kernels::{UNITS, adamw_update, sum_of_squares};
use super::{AdamWOps, AdamWScalars, adamw_update_composite, sum_of_squares_composite};
use crate::ops::support::launch::{empty_f32, linear_cubes};

/// Most cubes of one squared-norm launch (each adds one atomic).
const MAX_NORM_CUBES: usize = 1024;

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> AdamWOps
    for CubeBackend<R, F, I, BT>
{
    fn adamw_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        m: FloatTensor<Self>,
        v: FloatTensor<Self>,
        s: &AdamWScalars,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let all_f32 = [&param, &grad, &m, &v]
            .iter()
            .all(|t| t.dtype == DType::F32);
        if !all_f32 {
            return adamw_update_composite::<Self>(param, grad, m, v, s);
        }
        let [param, grad, m, v] = [param, grad, m, v].map(into_contiguous);
        let n = param.meta.shape().num_elements();
        let (param_out, m_out, v_out) = (
            empty_f32(&param, &[n]),
            empty_f32(&m, &[n]),
            empty_f32(&v, &[n]),
        );
        // SAFETY: all seven tensors are contiguous with n elements (the
        // caller passes flat tensors of one length; outputs are allocated
        // like the inputs), and the kernel stops at n.
        unsafe {
            adamw_update::launch_unchecked::<R>(
                &param.client,
                linear_cubes(n),
                CubeDim::new_1d(UNITS as u32),
                param.clone().into_tensor_arg(),
                grad.into_tensor_arg(),
                m.into_tensor_arg(),
                v.into_tensor_arg(),
                param_out.clone().into_tensor_arg(),
                m_out.clone().into_tensor_arg(),
                v_out.clone().into_tensor_arg(),
                s.grad_scale as f32,
                s.beta1 as f32,
                (1.0 - s.beta1) as f32,
                s.beta2 as f32,
                (1.0 - s.beta2) as f32,
                s.bias1() as f32,
                s.bias2() as f32,
                s.eps as f32,
                s.lr as f32,
                (1.0 - s.lr * s.weight_decay) as f32,
            );
        }
        (param_out, m_out, v_out)
    }

    fn sum_of_squares(tensors: Vec<FloatTensor<Self>>, device: &Self::Device) -> FloatTensor<Self> {
        let Some(first) = tensors.first() else {
            return sum_of_squares_composite::<Self>(tensors, device);
        };
        if tensors.iter().any(|t| t.dtype != DType::F32) {
            return sum_of_squares_composite::<Self>(tensors, device);
        }
        let acc = zeros_client(first.client.clone(), device.clone(), [1].into(), DType::F32);
        for t in tensors {
            let t = into_contiguous(t);
            let n = t.meta.shape().num_elements();
            if n == 0 {
                continue;
            }
            let cubes = n.div_ceil(UNITS).min(MAX_NORM_CUBES);
            // SAFETY: `t` is contiguous and read below its length only;
            // `acc` has the one element the kernel adds to.
            unsafe {
                sum_of_squares::launch_unchecked::<R>(
                    &acc.client,
                    CubeCount::Static(cubes as u32, 1, 1),
                    CubeDim::new_1d(UNITS as u32),
                    t.into_tensor_arg(),
                    acc.clone().into_tensor_arg(),
                    (cubes * UNITS) as u32,
                );
            }
        }
        acc
    }
}
