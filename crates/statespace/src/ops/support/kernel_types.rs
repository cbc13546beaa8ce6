//! The storage types the CubeCL kernels take: those generic over their
//! storage read and write f32, bf16 and f16 tensors as they are, with f32
//! arithmetic. Host logic for the launch plans, on every build.

use burn::tensor::DType;

/// Whether kernels generic over their storage take tensors of `dtype`.
pub(crate) fn kernel_float(dtype: DType) -> bool {
    matches!(dtype, DType::F32 | DType::BF16 | DType::F16)
}
