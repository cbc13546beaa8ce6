//! What the CubeCL launchers of every op share: packed scratch buffers,
//! dtype casts, the one-unit-per-element grid, and the f32 backend the GPU
//! paths build tensor ops on.

use burn::tensor::DType;
use burn::tensor::ops::FloatTensorOps;
use burn_cubecl::ops::numeric::empty_device_contiguous_dtype;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

/// The backend the GPU paths build their f32 tensor ops on (around the
/// CUDA libraries, and where a kernel leaves work to tensor ops).
pub(crate) type F32Cube<R> = CubeBackend<R, f32, i32, u8>;

/// A packed (unpadded) tensor of `shape` and `dtype` on `like`'s device,
/// uninitialised. (CubeCL's default allocation pads rows; the kernels
/// address scratch buffers as packed.)
pub(crate) fn empty_packed<R: CubeRuntime>(
    like: &CubeTensor<R>,
    shape: &[usize],
    dtype: DType,
) -> CubeTensor<R> {
    empty_device_contiguous_dtype(
        like.client.clone(),
        like.device.clone(),
        shape.to_vec().into(),
        dtype,
    )
}

/// A packed f32 tensor of `shape` on `like`'s device, uninitialised.
pub(crate) fn empty_f32<R: CubeRuntime>(like: &CubeTensor<R>, shape: &[usize]) -> CubeTensor<R> {
    empty_packed(like, shape, DType::F32)
}

/// `t` in `dtype` (no copy when it already is).
pub(crate) fn to_dtype<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement>(
    t: CubeTensor<R>,
    dtype: DType,
) -> CubeTensor<R> {
    if t.dtype == dtype {
        t
    } else {
        <CubeBackend<R, F, I, BT> as FloatTensorOps<_>>::float_cast(t, dtype.into())
    }
}

/// Units per cube of the one-unit-per-element CubeCL kernels.
pub(crate) const LINEAR_UNITS: usize = 256;

/// Cubes of [`LINEAR_UNITS`] units covering `units` units along x.
pub(crate) fn linear_cubes(units: usize) -> cubecl::prelude::CubeCount {
    cubecl::prelude::CubeCount::Static(units.div_ceil(LINEAR_UNITS) as u32, 1, 1)
}
