//! Softmax cross-entropy and its gradient in tensor ops: the semantics
//! every backend is checked against, and the trait's defaults. 16-bit
//! logits are read as f32 (as PyTorch's autocast runs `cross_entropy` in
//! f32): the loss and lse are f32, and the logits' gradient is rounded to
//! the logits' type. Wider logits keep their own type throughout.

use burn::tensor::backend::Backend;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{DType, IndexingUpdateOp, Int, Tensor};

use crate::ops::support::primitive::{float, tensor, with_dtype};

/// The type the loss is computed in for logits stored as `dtype`: f32 for
/// the 16-bit types, else `dtype` itself.
fn arithmetic(dtype: DType) -> DType {
    match dtype {
        DType::BF16 | DType::F16 => DType::F32,
        other => other,
    }
}

/// [`super::CrossEntropyOps::cross_entropy_forward`] in tensor ops. Unchecked: a
/// reference for the backends; [`super::mean_cross_entropy`] is the checked entry.
pub fn cross_entropy_forward_composite<B: Backend>(
    logits: FloatTensor<B>,
    labels: IntTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let logits = tensor::<B, 2>(logits);
    let dtype = arithmetic(logits.dtype());
    let x = with_dtype(logits, dtype);
    let rows = x.dims()[0];
    let labels = Tensor::<B, 1, Int>::from_primitive(labels).reshape([rows, 1]);
    let max = x.clone().max_dim(1);
    let lse = max.clone() + (x.clone() - max).exp().sum_dim(1).log();
    let loss = lse.clone() - x.gather(1, labels);
    (float(loss.reshape([rows])), float(lse.reshape([rows])))
}

/// [`super::CrossEntropyOps::cross_entropy_backward`] in tensor ops; unchecked.
pub fn cross_entropy_backward_composite<B: Backend>(
    logits: FloatTensor<B>,
    labels: IntTensor<B>,
    lse: FloatTensor<B>,
    grad_loss: FloatTensor<B>,
) -> FloatTensor<B> {
    let logits = tensor::<B, 2>(logits);
    let (stored, compute) = (logits.dtype(), arithmetic(logits.dtype()));
    let x = with_dtype(logits, compute);
    let [rows, classes] = x.dims();
    let device = x.device();
    let labels = Tensor::<B, 1, Int>::from_primitive(labels).reshape([rows, 1]);
    let probs = (x - tensor::<B, 1>(lse).reshape([rows, 1])).exp();
    let one_hot = Tensor::<B, 2>::zeros([rows, classes], &device).scatter(
        1,
        labels,
        Tensor::ones([rows, 1], &device),
        IndexingUpdateOp::Add,
    );
    let grad_loss = with_dtype(tensor::<B, 1>(grad_loss), compute);
    float(with_dtype(
        (probs - one_hot) * grad_loss.reshape([rows, 1]),
        stored,
    ))
}
