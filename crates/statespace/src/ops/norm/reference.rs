//! LayerNorm and RMSNorm forward and backward in tensor ops: the
//! semantics every backend is checked against, and the trait's defaults.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;

use super::{NormForward, NormGrads, NormKind};
use crate::ops::support::primitive::{float, tensor};

/// [`super::NormOps::norm_forward`] in tensor ops (the order of operations of
/// the reference models' norms). Unchecked: a reference for the backends;
/// [`super::norm`] is the checked entry.
pub fn norm_forward_composite<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: Option<FloatTensor<B>>,
    eps: f64,
    kind: NormKind,
) -> NormForward<FloatTensor<B>> {
    let x = tensor::<B, 2>(x);
    let w = tensor::<B, 1>(weight).unsqueeze_dim::<2>(0);
    let rows = x.dims()[0];
    let (centred, mean) = if kind.centred() {
        let mean = x.clone().mean_dim(1);
        (x - mean.clone(), mean)
    } else {
        let dtype = x.dtype();
        (x, Tensor::zeros([rows, 1], (&w.device(), dtype)))
    };
    let rstd = centred
        .clone()
        .square()
        .mean_dim(1)
        .add_scalar(eps)
        .sqrt()
        .recip();
    let mut y = centred * rstd.clone() * w;
    if let Some(b) = bias {
        y = y + tensor::<B, 1>(b).unsqueeze_dim::<2>(0);
    }
    NormForward {
        y: float(y),
        mean: float(mean.reshape([rows])),
        rstd: float(rstd.reshape([rows])),
    }
}

/// [`super::NormOps::norm_backward`] in tensor ops; unchecked, as
/// [`norm_forward_composite`].
pub fn norm_backward_composite<B: Backend>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    (mean, rstd): (FloatTensor<B>, FloatTensor<B>),
    kind: NormKind,
    grad_y: FloatTensor<B>,
) -> NormGrads<FloatTensor<B>> {
    let x = tensor::<B, 2>(x);
    let g = tensor::<B, 2>(grad_y);
    let w = tensor::<B, 1>(weight).unsqueeze_dim::<2>(0);
    let mean = tensor::<B, 1>(mean).unsqueeze_dim::<2>(1);
    let rstd = tensor::<B, 1>(rstd).unsqueeze_dim::<2>(1);
    let x_hat = (x - mean) * rstd.clone();
    let g_hat = g.clone() * w;
    let mut inner = g_hat.clone() - x_hat.clone() * (g_hat.clone() * x_hat.clone()).mean_dim(1);
    if kind.centred() {
        inner = inner - g_hat.mean_dim(1);
    }
    NormGrads {
        x: float(inner * rstd),
        weight: float((g.clone() * x_hat).sum_dim(0).squeeze_dim::<1>(0)),
        bias: kind
            .centred()
            .then(|| float(g.sum_dim(0).squeeze_dim::<1>(0))),
    }
}
