//! Softmax cross-entropy and its gradient in tensor ops: the semantics
//! every backend is checked against, and the trait's defaults.

use burn::tensor::backend::Backend;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{IndexingUpdateOp, Int, Tensor};

use crate::ops::support::primitive::{float, tensor};

/// [`super::CrossEntropyOps::cross_entropy_forward`] in tensor ops. Unchecked: a
/// reference for the backends; [`super::mean_cross_entropy`] is the checked entry.
pub fn cross_entropy_forward_composite<B: Backend>(
    logits: FloatTensor<B>,
    labels: IntTensor<B>,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let x = tensor::<B, 2>(logits);
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
    let x = tensor::<B, 2>(logits);
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
    float((probs - one_hot) * tensor::<B, 1>(grad_loss).reshape([rows, 1]))
}
