//! Conversions between float tensors and the backend primitives that the
//! op traits take and return, and between storage types where mixed
//! precision meets (16-bit activations, f32 parameters or losses).

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Tensor, TensorPrimitive};

/// A backend primitive as a rank-`D` tensor.
pub(crate) fn tensor<B: Backend, const D: usize>(t: FloatTensor<B>) -> Tensor<B, D> {
    Tensor::from_primitive(TensorPrimitive::Float(t))
}

/// A float tensor's backend primitive.
pub(crate) fn float<B: Backend, const D: usize>(t: Tensor<B, D>) -> FloatTensor<B> {
    t.into_primitive().tensor()
}

/// `t` in `dtype`: a cast, recorded by autodiff (the gradient returns in
/// t's type), or `t` itself when it already is.
pub(crate) fn with_dtype<B: Backend, const D: usize>(
    t: Tensor<B, D>,
    dtype: DType,
) -> Tensor<B, D> {
    if t.dtype() == dtype { t } else { t.cast(dtype) }
}
