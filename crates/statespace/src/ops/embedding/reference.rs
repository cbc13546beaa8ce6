//! The embedding gradient as burn's select-add: the semantics every
//! backend is checked against, and the trait's default.

use burn::tensor::backend::Backend;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{Shape, TensorMetadata};

/// [`super::EmbeddingOps::embedding_grad`] as burn's select-add into zeros.
/// Unchecked: a reference for the backends.
pub fn embedding_grad_composite<B: Backend>(
    grad: FloatTensor<B>,
    indices: IntTensor<B>,
    vocab: usize,
) -> FloatTensor<B> {
    let dim = grad.shape()[1];
    let device = B::float_device(&grad);
    let zeros = B::float_zeros(Shape::new([vocab, dim]), &device, grad.dtype().into());
    B::float_select_add(zeros, 0, indices, grad)
}
