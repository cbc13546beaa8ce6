//! Moving a tensor between storage types where mixed precision meets: a
//! layer whose f32 parameters (decays, skips) meet 16-bit activations.

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor};

/// `t` in `dtype`: a cast, recorded by autodiff (the gradient returns in
/// t's type), or `t` itself when it already is.
pub fn with_dtype<B: Backend, const D: usize>(t: Tensor<B, D>, dtype: DType) -> Tensor<B, D> {
    if t.dtype() == dtype { t } else { t.cast(dtype) }
}
