//! The 2-D scan on CubeCL devices: one launch of one unit per (b, e, n)
//! each way for f32 inputs (the backward reruns the forward for the
//! states), the parts summed by tensor ops; other storage types and grids
//! past the kernels' 32-bit indices take the composites.

use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Tensor};
use burn_cubecl::cubecl::prelude::CubeDim;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::kernels::{scan2d_backward, scan2d_forward};
use super::{Scan2dInputs, Scan2dOps, scan2d_backward_composite, scan2d_composite};
use crate::ops::support::index_limit::{INDEX_LIMIT, elements};
use crate::ops::support::launch::{LINEAR_UNITS, empty_f32, linear_cubes};
use crate::ops::support::primitive::{float, tensor};

/// (B, T, V, E, N) of f32 inputs whose largest buffer (the backward's
/// seven parts) the kernels can index; `None` sends the op to the
/// composites.
fn grid<R: CubeRuntime>(x: &Scan2dInputs<CubeTensor<R>>) -> Option<[usize; 5]> {
    let [b, t, v, e] = x.u.meta.shape().dims::<4>();
    let n = x.a1.meta.shape().dims::<4>()[3];
    let all_f32 = x.clone().into_array().iter().all(|t| t.dtype == DType::F32);
    (all_f32 && elements(&[7, b, t, v, e, n]) < INDEX_LIMIT).then_some([b, t, v, e, n])
}

/// Runs the forward kernel: the states h¹, h² (B, E, N, T, V) and y's
/// parts (B, T, V, E, N).
fn forward<R: CubeRuntime>(
    x: &Scan2dInputs<CubeTensor<R>>,
    [b, t, v, e, n]: [usize; 5],
) -> [CubeTensor<R>; 3] {
    let units = b * e * n;
    let h1s = empty_f32(&x.u, &[b, e, n, t, v]);
    let h2s = empty_f32(&x.u, &[b, e, n, t, v]);
    let parts = empty_f32(&x.u, &[b, t, v, e, n]);
    let [a1, a2, a3, a4, dt1, dt2, u, b1, b2, c1, c2] =
        x.clone().into_array().map(|t| t.into_tensor_arg());
    // SAFETY: every input is packed in the shape the entry checked, the
    // outputs packed as allocated; a unit stops past `units` and indexes
    // its own cells, all below 2³² (`grid`).
    unsafe {
        scan2d_forward::launch_unchecked::<R>(
            &x.u.client,
            linear_cubes(units),
            CubeDim::new_1d(LINEAR_UNITS as u32),
            a1,
            a2,
            a3,
            a4,
            dt1,
            dt2,
            u,
            b1,
            b2,
            c1,
            c2,
            h1s.clone().into_tensor_arg(),
            h2s.clone().into_tensor_arg(),
            parts.clone().into_tensor_arg(),
            units as u32,
            t as u32,
            v as u32,
            e as u32,
            n as u32,
        );
    }
    [h1s, h2s, parts]
}

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> Scan2dOps
    for CubeBackend<R, F, I, BT>
{
    fn scan2d(x: Scan2dInputs<FloatTensor<Self>>) -> FloatTensor<Self> {
        let Some(dims) = grid(&x) else {
            return scan2d_composite::<Self>(x);
        };
        let [b, t, v, e, _] = dims;
        let x = x.map(into_contiguous);
        let [_, _, parts] = forward(&x, dims);
        let y = tensor::<Self, 5>(parts).sum_dim(4).reshape([b, t, v, e]);
        float(y)
    }

    fn scan2d_backward(
        x: Scan2dInputs<FloatTensor<Self>>,
        grad: FloatTensor<Self>,
    ) -> Scan2dInputs<FloatTensor<Self>> {
        let Some(dims) = grid(&x) else {
            return scan2d_backward_composite::<Self>(x, grad);
        };
        let [b, t, v, e, n] = dims;
        let x = x.map(into_contiguous);
        let grad = into_contiguous(grad);
        let [h1s, h2s, _] = forward(&x, dims);
        let units = b * e * n;
        let row = empty_f32(&x.u, &[b, e, n, v]);
        let parts = empty_f32(&x.u, &[7, b, t, v, e, n]);
        let parameters = empty_f32(&x.u, &[4, b, e, n]);
        let [a1, a2, a3, a4, dt1, dt2, u, b1, b2, c1, c2] =
            x.clone().into_array().map(|t| t.into_tensor_arg());
        // SAFETY: as in `forward`; `row`, `parts` and `parameters` are
        // packed as allocated, each unit writes only its own entries, and
        // reads `row` only where it wrote it (at the next time step).
        unsafe {
            scan2d_backward::launch_unchecked::<R>(
                &x.u.client,
                linear_cubes(units),
                CubeDim::new_1d(LINEAR_UNITS as u32),
                a1,
                a2,
                a3,
                a4,
                dt1,
                dt2,
                u,
                b1,
                b2,
                c1,
                c2,
                h1s.into_tensor_arg(),
                h2s.into_tensor_arg(),
                grad.into_tensor_arg(),
                row.into_tensor_arg(),
                parts.clone().into_tensor_arg(),
                parameters.clone().into_tensor_arg(),
                units as u32,
                t as u32,
                v as u32,
                e as u32,
                n as u32,
            );
        }
        let parts = tensor::<Self, 6>(parts);
        let parameters = tensor::<Self, 4>(parameters).sum_dim(1); // (4, 1, E, N)
        let part = |k: usize| parts.clone().narrow(0, k, 1).reshape([b, t, v, e, n]);
        let over_states = |k: usize| float(part(k).sum_dim(4).reshape([b, t, v, e]));
        let over_channels = |k: usize| float(part(k).sum_dim(3).reshape([b, t, v, n]));
        let parameter = |k: usize| {
            let g: Tensor<Self, 4> = parameters.clone().narrow(0, k, 1).reshape([1, 1, e, n]);
            float(g)
        };
        Scan2dInputs {
            a1: parameter(0),
            a2: parameter(1),
            a3: parameter(2),
            a4: parameter(3),
            dt1: over_states(0),
            dt2: over_states(1),
            u: over_states(2),
            b1: over_channels(3),
            b2: over_channels(4),
            c1: over_channels(5),
            c2: over_channels(6),
        }
    }
}
