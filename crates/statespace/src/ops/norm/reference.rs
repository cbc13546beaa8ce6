//! LayerNorm and RMSNorm, and BatchNorm in training, forward and backward
//! in tensor ops: the semantics every backend is checked against, and the
//! trait's defaults.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;

use super::{BatchNormForward, NormForward, NormGrads, NormKind};
use crate::ops::MatmulOps;
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

/// Σ over the rows of t (rows, d) → (d), by the backend's column sums.
fn column_sum<B: MatmulOps>(t: Tensor<B, 2>) -> Tensor<B, 1> {
    tensor(B::column_sum(float(t)))
}

/// [`super::NormOps::batch_norm_forward`] in tensor ops. Unchecked: a
/// reference for the backends; [`super::batch_norm`] is the checked entry.
pub fn batch_norm_forward_composite<B: MatmulOps>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    bias: FloatTensor<B>,
    eps: f64,
) -> BatchNormForward<FloatTensor<B>> {
    let x = tensor::<B, 2>(x);
    let [rows, d] = x.dims();
    let n = rows as f64;
    let mean = column_sum(x.clone()).div_scalar(n);
    let centred = x - mean.clone().reshape([1, d]);
    let var = column_sum(centred.clone().square()).div_scalar(n);
    let scale = var.clone().add_scalar(eps).sqrt().recip() * tensor::<B, 1>(weight);
    let y = centred * scale.reshape([1, d]) + tensor::<B, 1>(bias).reshape([1, d]);
    BatchNormForward {
        y: float(y),
        mean: float(mean),
        var: float(var),
    }
}

/// [`super::NormOps::batch_norm_backward`] in tensor ops: ∂x, ∂w and ∂b
/// from ∂y, x, w and the forward's (μ, σ²).
pub fn batch_norm_backward_composite<B: MatmulOps>(
    x: FloatTensor<B>,
    weight: FloatTensor<B>,
    (mean, var): (FloatTensor<B>, FloatTensor<B>),
    eps: f64,
    grad_y: FloatTensor<B>,
) -> NormGrads<FloatTensor<B>> {
    let (x, g) = (tensor::<B, 2>(x), tensor::<B, 2>(grad_y));
    let [rows, d] = x.dims();
    let n = rows as f64;
    let rstd = tensor::<B, 1>(var).add_scalar(eps).sqrt().recip();
    let x_hat = (x - tensor::<B, 1>(mean).reshape([1, d])) * rstd.clone().reshape([1, d]);
    let grad_bias = column_sum(g.clone());
    let grad_weight = column_sum(g.clone() * x_hat.clone());
    let scale = (tensor::<B, 1>(weight) * rstd).div_scalar(n);
    let grad_x = (g.mul_scalar(n)
        - grad_bias.clone().reshape([1, d])
        - x_hat * grad_weight.clone().reshape([1, d]))
        * scale.reshape([1, d]);
    NormGrads {
        x: float(grad_x),
        weight: float(grad_weight),
        bias: Some(float(grad_bias)),
    }
}
