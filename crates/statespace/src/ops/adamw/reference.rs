//! The AdamW step and the squared norm in tensor ops: the semantics every
//! backend is checked against, and what backends without kernels run.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;

use super::AdamWScalars;
use crate::ops::support::primitive::tensor;

/// [`super::AdamWOps::adamw_update`] in tensor ops. Unchecked: the four tensors
/// must be flat and of one length.
pub fn adamw_update_composite<B: Backend>(
    param: FloatTensor<B>,
    grad: FloatTensor<B>,
    m: FloatTensor<B>,
    v: FloatTensor<B>,
    s: &AdamWScalars,
) -> (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>) {
    let (param, grad, m, v) = (
        tensor::<B, 1>(param),
        tensor::<B, 1>(grad),
        tensor::<B, 1>(m),
        tensor::<B, 1>(v),
    );
    let g = grad.mul_scalar(s.grad_scale);
    let m = m.mul_scalar(s.beta1) + g.clone().mul_scalar(1.0 - s.beta1);
    let v = v.mul_scalar(s.beta2) + g.square().mul_scalar(1.0 - s.beta2);
    let m_hat = m.clone().div_scalar(s.bias1());
    let v_hat = v.clone().div_scalar(s.bias2());
    let decayed = param.mul_scalar(1.0 - s.lr * s.weight_decay);
    let param = decayed - m_hat.div(v_hat.sqrt().add_scalar(s.eps)).mul_scalar(s.lr);
    (
        param.into_primitive().tensor(),
        m.into_primitive().tensor(),
        v.into_primitive().tensor(),
    )
}

/// [`super::AdamWOps::sum_of_squares`] in tensor ops; unchecked (flat tensors).
pub fn sum_of_squares_composite<B: Backend>(
    tensors: Vec<FloatTensor<B>>,
    device: &B::Device,
) -> FloatTensor<B> {
    let total = tensors
        .into_iter()
        .map(|t| tensor::<B, 1>(t).square().sum())
        .reduce(|acc, s| acc + s)
        .unwrap_or_else(|| Tensor::zeros([1], device));
    total.into_primitive().tensor()
}
