//! The diagonal scan on CubeCL devices: the three launches of
//! [`crate::ops::support::chunk_plan`] for f32 inputs (F complex lanes per
//! sequence); other storage types take the composite. The backward is the
//! composite around this scan.

use burn::tensor::DType;
use burn::tensor::ops::FloatTensor;
use burn_cubecl::cubecl::prelude::CubeDim;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::kernels::{chunk_carries, chunk_scans, chunk_totals};
use super::{DiagonalScanOps, diagonal_scan_composite};
use crate::ops::support::chunk_plan::ChunkPlan;
use crate::ops::support::launch::{LINEAR_UNITS, empty_f32, linear_cubes};

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> DiagonalScanOps
    for CubeBackend<R, F, I, BT>
{
    fn diagonal_scan(
        lambda: FloatTensor<Self>,
        u: FloatTensor<Self>,
        x0: FloatTensor<Self>,
        reverse: bool,
    ) -> FloatTensor<Self> {
        let [batch, len, width] = u.meta.shape().dims::<3>();
        let all_f32 = [&lambda, &u, &x0].iter().all(|t| t.dtype == DType::F32);
        let Some(plan) = ChunkPlan::new([batch, len, width], all_f32) else {
            return diagonal_scan_composite::<Self>(lambda, u, x0, reverse);
        };
        let ChunkPlan { chunk, chunks, .. } = plan;
        let lanes = width / 2;
        let (lambda, u, x0) = (
            into_contiguous(lambda),
            into_contiguous(u),
            into_contiguous(x0),
        );
        let client = u.client.clone();
        let x = empty_f32(&u, &[batch, len, width]);
        let carries = empty_f32(&u, &[batch, chunks, width]);
        let chunk_units = batch * chunks * lanes;
        let units = CubeDim::new_1d(LINEAR_UNITS as u32);
        // SAFETY: u and x are packed (B, L, 2F), carries (B, chunks, 2F),
        // x0 (B, 2F) and λ (2F) packed (the entry checked the shapes); each
        // kernel stops at its last unit and reads within the chunk bounds
        // the plan set; every index is below 2³² (the plan).
        unsafe {
            chunk_totals::launch_unchecked::<R>(
                &client,
                linear_cubes(chunk_units),
                units,
                lambda.clone().into_tensor_arg(),
                u.clone().into_tensor_arg(),
                carries.clone().into_tensor_arg(),
                len as u32,
                chunks as u32,
                lanes as u32,
                chunk as u32,
                reverse,
            );
            chunk_carries::launch_unchecked::<R>(
                &client,
                linear_cubes(batch * lanes),
                units,
                lambda.clone().into_tensor_arg(),
                x0.into_tensor_arg(),
                carries.clone().into_tensor_arg(),
                len as u32,
                chunks as u32,
                lanes as u32,
                chunk as u32,
                reverse,
            );
            chunk_scans::launch_unchecked::<R>(
                &client,
                linear_cubes(chunk_units),
                units,
                lambda.into_tensor_arg(),
                u.into_tensor_arg(),
                carries.into_tensor_arg(),
                x.clone().into_tensor_arg(),
                len as u32,
                chunks as u32,
                lanes as u32,
                chunk as u32,
                reverse,
            );
        }
        x
    }
}
