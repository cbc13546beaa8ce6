//! The full-precision matmul on CubeCL devices: for f32 operands cuBLAS's
//! SGEMM on CUDA devices where the library loads (`ops::cuda_libs`), else
//! cubek's unit routine (no tensor cores, so f32 stays f32); burn's matmul
//! (tensor cores, f32 accumulation) for 16-bit operands.

use burn::tensor::DType;
use burn::tensor::ops::FloatTensor;
use burn::tensor::ops::FloatTensorOps;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::kernel::matmul::init_matmul_output;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use cubek::matmul::definition::{MatmulElems, MatmulGlobalElems};
use cubek::matmul::launch::{Strategy, launch_ref};
use cubek::std::InputBinding;

use super::MatmulOps;
use crate::ops::cuda_libs::cublas;

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> MatmulOps
    for CubeBackend<R, F, I, BT>
{
    fn exact_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        if lhs.dtype != DType::F32 || rhs.dtype != DType::F32 {
            return Self::float_matmul(lhs, rhs);
        }
        if let Some(out) = cublas::matmul(&lhs, &rhs) {
            return out;
        }
        let out = init_matmul_output(&lhs, &rhs, DType::F32);
        let mut dtypes = MatmulElems::from_globals(&MatmulGlobalElems {
            lhs: DType::F32.into(),
            rhs: DType::F32.into(),
            out: DType::F32.into(),
        });
        let client = out.client.clone();
        // SimpleUnit measured 2× faster than DoubleUnit on the H200
        // (`ssm bench kernels --only matmul`).
        let launched = launch_ref(
            &Strategy::SimpleUnit(Default::default()),
            &client,
            InputBinding::new(lhs.clone().binding(), DType::F32.into()),
            InputBinding::new(rhs.clone().binding(), DType::F32.into()),
            out.clone().binding(),
            &mut dtypes,
        );
        if launched.is_ok() {
            return out;
        }
        // The unit routine rejects some layouts; contiguous operands through
        // the naive routine are always accepted.
        let (lhs, rhs) = (into_contiguous(lhs), into_contiguous(rhs));
        let out = empty_device_dtype(
            out.client.clone(),
            out.device.clone(),
            out.meta.shape().clone(),
            DType::F32,
        );
        launch_ref(
            &Strategy::Naive,
            &client,
            InputBinding::new(lhs.binding(), DType::F32.into()),
            InputBinding::new(rhs.binding(), DType::F32.into()),
            out.clone().binding(),
            &mut dtypes,
        )
        .expect("the naive matmul takes contiguous f32 operands");
        out
    }
}
