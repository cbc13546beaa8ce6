//! GELU and its gradient in tensor ops: the semantics every backend is
//! checked against, and the trait's defaults.

use std::f64::consts::{FRAC_1_SQRT_2, PI};

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorMetadata};

use crate::ops::support::primitive::{float, tensor};

/// y = x·Φ(x) as tensor ops. Unchecked: a reference for the backends;
/// [`super::gelu`] is the checked entry.
pub fn gelu_composite<B: Backend>(x: FloatTensor<B>) -> FloatTensor<B> {
    let shape = x.shape();
    let x = flat::<B>(x);
    B::float_reshape(float(x.clone() * cdf(x)), shape)
}

/// ∂y·(Φ(x) + x·φ(x)) as tensor ops; unchecked (∂y shaped as x).
pub fn gelu_backward_composite<B: Backend>(
    x: FloatTensor<B>,
    grad: FloatTensor<B>,
) -> FloatTensor<B> {
    let shape = x.shape();
    let (x, grad) = (flat::<B>(x), flat::<B>(grad));
    let density = (x.clone().powi_scalar(2) * -0.5)
        .exp()
        .mul_scalar(1.0 / (2.0 * PI).sqrt());
    B::float_reshape(float(grad * (cdf(x.clone()) + x * density)), shape)
}

/// Any float tensor as a rank-1 view of its elements.
fn flat<B: Backend>(x: FloatTensor<B>) -> Tensor<B, 1> {
    let n = x.shape().num_elements();
    tensor(B::float_reshape(x, [n].into()))
}

/// Φ(x) = ½(1 + erf(x/√2)).
fn cdf<B: Backend>(x: Tensor<B, 1>) -> Tensor<B, 1> {
    (x * FRAC_1_SQRT_2).erf().add_scalar(1.0).mul_scalar(0.5)
}
