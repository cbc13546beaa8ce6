//! GLU and its gradient in tensor ops: the semantics every backend is
//! checked against, and the trait's defaults.

use burn::tensor::activation::sigmoid;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorMetadata};

use crate::ops::support::primitive::{float, tensor};

/// y = a ⊙ σ(b) for x (…, 2h) = [a, b], as tensor ops. Unchecked: a
/// reference for the backends; [`super::glu`] is the checked entry.
pub fn glu_composite<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let (x, mut shape) = rows::<B>(x);
    let h = x.dims()[1] / 2;
    let y = x.clone().narrow(1, 0, h) * sigmoid(x.narrow(1, h, h));
    let last = shape.num_dims() - 1;
    shape[last] = h;
    B::float_reshape(float(y), shape)
}

/// ∂x = [∂y ⊙ σ(b), ∂y ⊙ a ⊙ σ(b)(1 − σ(b))] as tensor ops; unchecked (x
/// (…, 2h), ∂y (…, h)).
pub fn glu_backward_composite<B: Backend>(
    x: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let (x, shape) = rows::<B>(x);
    let [n, two_h] = x.dims();
    let h = two_h / 2;
    let grad: Tensor<B, 2> = tensor::<B, 1>(B::float_reshape(grad, [n * h].into())).reshape([n, h]);
    let (a, s) = (x.clone().narrow(1, 0, h), sigmoid(x.narrow(1, h, h)));
    let da = grad.clone() * s.clone();
    let db = grad * a * s.clone() * (s.neg().add_scalar(1.0));
    B::float_reshape(float(Tensor::cat(vec![da, db], 1)), shape)
}

/// x (…, m) as rows (N, m), with its shape.
fn rows<B: Backend>(x: FloatTensor<B>) -> (Tensor<B, 2>, burn::tensor::Shape) {
    let shape = x.shape();
    let m = shape[shape.num_dims() - 1];
    let n = shape.num_elements() / m.max(1);
    (tensor(B::float_reshape(x, [n, m].into())), shape)
}
