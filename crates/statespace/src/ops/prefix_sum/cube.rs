//! Running sums on CubeCL devices: the three launches of
//! [`crate::ops::support::chunk_plan`]
//! for f32 inputs; other storage types take the composite.

use burn::tensor::DType;
use burn::tensor::ops::FloatTensor;
use burn_cubecl::cubecl::prelude::CubeDim;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::kernels::{chunk_carries, chunk_scans, chunk_totals};
use super::{PrefixSumOps, prefix_sum_composite};
use crate::ops::support::chunk_plan::ChunkPlan;
use crate::ops::support::launch::{LINEAR_UNITS, empty_f32, linear_cubes};

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> PrefixSumOps
    for CubeBackend<R, F, I, BT>
{
    fn prefix_sum(x: FloatTensor<Self>, reverse: bool) -> FloatTensor<Self> {
        let dims = x.meta.shape().dims::<3>();
        let Some(plan) = ChunkPlan::new(dims, x.dtype == DType::F32) else {
            return prefix_sum_composite::<Self>(x, reverse);
        };
        let ChunkPlan {
            batch,
            len,
            features,
            chunk,
            chunks,
        } = plan;
        let x = into_contiguous(x);
        let y = empty_f32(&x, &dims);
        let carries = empty_f32(&x, &[batch, chunks, features]);
        let units = CubeDim::new_1d(LINEAR_UNITS as u32);
        // SAFETY: x and y are packed (B, L, F), carries packed (B, chunks,
        // F); each kernel stops at its last unit and reads within the
        // chunk bounds the plan set; every index is below 2³² (the plan).
        unsafe {
            chunk_totals::launch_unchecked::<R>(
                &x.client,
                linear_cubes(plan.chunk_units()),
                units,
                x.clone().into_tensor_arg(),
                carries.clone().into_tensor_arg(),
                len as u32,
                chunks as u32,
                features as u32,
                chunk as u32,
            );
            chunk_carries::launch_unchecked::<R>(
                &x.client,
                linear_cubes(plan.carry_units()),
                units,
                carries.clone().into_tensor_arg(),
                chunks as u32,
                features as u32,
                reverse,
            );
            chunk_scans::launch_unchecked::<R>(
                &x.client,
                linear_cubes(plan.chunk_units()),
                units,
                x.clone().into_tensor_arg(),
                carries.into_tensor_arg(),
                y.clone().into_tensor_arg(),
                len as u32,
                chunks as u32,
                features as u32,
                chunk as u32,
                reverse,
            );
        }
        y
    }
}
