//! Matrix products at the full precision of their storage type, and the
//! affine bias after them (with a backward that sums over rows without
//! burn's one-cube reduction on GPUs).
//!
//! burn's CubeCL matmul stages f32 operands as TF32 on tensor cores (10-bit
//! mantissa), which puts f32 layers 1e-4 … 1e-3 away from their reference.
//! Like PyTorch (whose f32 matmul does not use TF32 by default), statespace
//! keeps f32 exact: its layers multiply through [`matmul`], which on CubeCL
//! devices runs an f32 routine without tensor cores for f32 operands and the
//! tensor-core routine for 16-bit ones. On the CPU it is burn's matmul.

mod autodiff;
#[cfg(feature = "cuda")]
mod cube;

use burn::tensor::TensorMetadata;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};
use burn_flex::Flex;

/// Backends with a full-precision matmul.
pub trait MatmulOps: Backend {
    /// lhs (…, M, K) × rhs (…, K, N) → (…, M, N), leading dimensions
    /// broadcast as in burn's matmul.
    fn exact_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_matmul(lhs, rhs)
    }

    /// y (rows, cols) + b (cols) on every row. Differentiable: ∂b is
    /// [`MatmulOps::column_sum`] of ∂y.
    fn add_bias(y: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        let cols = b.shape()[0];
        Self::float_add(y, Self::float_reshape(b, [1, cols].into()))
    }

    /// Σ over the rows of x (rows, cols) → (cols).
    fn column_sum(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let cols = x.shape()[1];
        Self::float_reshape(Self::float_sum_dim(x, 0), [cols].into())
    }
}

impl MatmulOps for Flex {}

/// y (rows, cols) + b (cols) on every row, differentiable in both (see
/// [`MatmulOps::add_bias`]).
pub fn add_bias<B: MatmulOps>(y: Tensor<B, 2>, b: Tensor<B, 1>) -> Tensor<B, 2> {
    let out = B::add_bias(y.into_primitive().tensor(), b.into_primitive().tensor());
    Tensor::from_primitive(TensorPrimitive::Float(out))
}

/// lhs (…, M, K) × rhs (…, K, N) → (…, M, N) at the storage type's full
/// precision (see the module doc). Differentiable in both arguments.
pub fn matmul<B: MatmulOps, const D: usize>(lhs: Tensor<B, D>, rhs: Tensor<B, D>) -> Tensor<B, D> {
    let out = B::exact_matmul(lhs.into_primitive().tensor(), rhs.into_primitive().tensor());
    Tensor::from_primitive(TensorPrimitive::Float(out))
}
