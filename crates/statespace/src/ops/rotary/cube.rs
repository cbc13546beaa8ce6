//! The rotary keys and queries on CubeCL devices: one kernel each way
//! ([`super::kernels`]) for f32 tensors, the backward's sums of ∂p over
//! the heads of a group as a tensor op and over (B, L) by
//! [`MatmulOps::column_sum`]; other storage types,
//! and buffers past the kernels' 32-bit indices, take the composites.

use burn::tensor::DType;
use burn::tensor::ops::FloatTensor;
use burn_cubecl::cubecl::prelude::CubeDim;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::kernels::{rotary_backward, rotary_forward};
use super::reference::{bias_grads, input_grads};
use super::{RotaryGrads, RotaryOps, RotaryPairs, rotary_backward_composite, rotary_composite};
use crate::ops::MatmulOps;
use crate::ops::support::index_limit::{INDEX_LIMIT, elements};
use crate::ops::support::launch::{LINEAR_UNITS, empty_f32, linear_cubes};
use crate::ops::support::primitive::{float, tensor};

/// (B, L, R, G, N, H, S) of the arguments when the kernels take them: all
/// f32, no axis empty (S = 0 included), y below 2³² elements.
fn kernel_dims<R: CubeRuntime>(
    x: &CubeTensor<R>,
    bias: &CubeTensor<R>,
    theta: &CubeTensor<R>,
) -> Option<[usize; 7]> {
    let all_f32 = [x, bias, theta].iter().all(|t| t.dtype == DType::F32);
    let [batch, len, r, g, n] = x.meta.shape().dims::<5>();
    let heads = bias.meta.shape().dims::<3>()[0];
    let s = theta.meta.shape().dims::<4>()[3];
    let fits = elements(&[batch, len, r, heads, n]) < INDEX_LIMIT;
    let empty = [batch, len, r, g, n, heads, s].contains(&0);
    (all_f32 && fits && !empty).then_some([batch, len, r, g, n, heads, s])
}

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> RotaryOps
    for CubeBackend<R, F, I, BT>
{
    fn rotary(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        theta: FloatTensor<Self>,
        pairs: RotaryPairs,
    ) -> FloatTensor<Self> {
        let Some([batch, len, r, g, n, heads, s]) = kernel_dims(&x, &bias, &theta) else {
            return rotary_composite::<Self>(x, bias, theta, pairs);
        };
        let (x, bias, theta) = (
            into_contiguous(x),
            into_contiguous(bias),
            into_contiguous(theta),
        );
        let y = empty_f32(&x, &[batch, len, r, heads, n]);
        // SAFETY: every tensor packed at the shapes the entry checked; one
        // unit per pair of y, the kernel stops past the last.
        unsafe {
            rotary_forward::launch_unchecked::<R>(
                &x.client,
                linear_cubes(batch * len * r * heads * n / 2),
                CubeDim::new_1d(LINEAR_UNITS as u32),
                x.clone().into_tensor_arg(),
                bias.into_tensor_arg(),
                theta.into_tensor_arg(),
                y.clone().into_tensor_arg(),
                r as u32,
                g as u32,
                heads as u32,
                n as u32,
                s as u32,
                pairs == RotaryPairs::Halves,
            );
        }
        y
    }

    fn rotary_backward(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        theta: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        pairs: RotaryPairs,
    ) -> RotaryGrads<FloatTensor<Self>> {
        let dims = kernel_dims(&x, &bias, &theta).filter(|_| grad.dtype == DType::F32);
        let Some([batch, len, r, g, n, heads, s]) = dims else {
            return rotary_backward_composite::<Self>(x, bias, theta, grad, pairs);
        };
        let (x, bias) = (into_contiguous(x), into_contiguous(bias));
        let (theta, grad) = (into_contiguous(theta), into_contiguous(grad));
        let grad_p = empty_f32(&x, &[batch, len, r, heads, n]);
        let grad_theta = empty_f32(&x, &[batch, len, heads, s]);
        // SAFETY: every tensor packed at the shapes the entry checked; one
        // unit per (row, head, pair), the kernel stops past the last and
        // writes ∂θ only below S.
        unsafe {
            rotary_backward::launch_unchecked::<R>(
                &grad_p.client,
                linear_cubes(batch * len * heads * n / 2),
                CubeDim::new_1d(LINEAR_UNITS as u32),
                x.into_tensor_arg(),
                bias.into_tensor_arg(),
                theta.into_tensor_arg(),
                grad.into_tensor_arg(),
                grad_p.clone().into_tensor_arg(),
                grad_theta.clone().into_tensor_arg(),
                r as u32,
                g as u32,
                heads as u32,
                n as u32,
                s as u32,
                pairs == RotaryPairs::Halves,
            );
        }
        // ∂bias sums ∂p over all B·L rows: by column_sum's two stages, not
        // burn's tall reduction, which took 3.2 ms for each of Mamba-3's
        // two biases at 8 × 2048 (on 3 cubes; h100, 2026-12-06).
        let grad_p = tensor::<Self, 5>(grad_p);
        let columns = Self::column_sum(float(grad_p.clone().reshape([batch * len, r * heads * n])));
        let grad_x = input_grads(grad_p, g);
        let grad_bias = bias_grads(tensor::<Self, 1>(columns), r, heads, n);
        RotaryGrads {
            x: float(grad_x),
            bias: float(grad_bias),
            theta: grad_theta,
        }
    }
}
