//! LayerNorm and RMSNorm over the last dimension as one backend extension
//! with its own backward.
//!
//! Per row x (d): μ = mean(x) when centred (LayerNorm), else 0 (RMSNorm);
//! r = 1 / √(mean((x − μ)²) + ε); x̂ = (x − μ)·r; y = x̂·w (+ b).
//! Backward, with ĝ = ∂y·w: ∂x = r·(ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) (the
//! mean(ĝ) term only when centred), ∂w = Σ_rows ∂y·x̂, ∂b = Σ_rows ∂y.
//! As tensor ops a norm costs about seven launches forward and twenty
//! backward, two of them slow leading-axis sums (a Mamba LM's 49 norms:
//! ≈ 1,000 launches and ≈ 8 ms of one-pass reductions per training step
//! on an H200). CubeCL devices run one kernel each way plus the column
//! sums of [`MatmulOps`] (`cube.rs`); the defaults are the tensor ops of
//! `reference.rs`, which define the semantics.
//!
//! BatchNorm in training normalises the columns instead: over the rows of
//! x (rows, d), μ = mean(x), σ² = mean((x − μ)²) (biased), r = 1/√(σ² + ε),
//! x̂ = (x − μ)·r, y = x̂·w + b, all per column. Backward, with n the rows:
//! ∂b = Σ_rows ∂y, ∂w = Σ_rows ∂y·x̂, ∂x = w·r/n·(n·∂y − ∂b − x̂·∂w). Both
//! passes are column sums ([`MatmulOps::column_sum`]) and element-wise
//! tensor ops on the backend itself, about a dozen launches each way
//! where autodiff of the same tensor ops took several times as many.

mod autodiff;
mod cpu;
#[cfg(feature = "cuda")]
mod cube;
#[cfg(feature = "cuda")]
mod kernels;
mod reference;

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;

use super::MatmulOps;
use crate::error::{Error, Result};
use crate::ops::support::check::{self, arg};
use crate::ops::support::primitive::{float, tensor};

pub use reference::{
    batch_norm_backward_composite, batch_norm_forward_composite, norm_backward_composite,
    norm_forward_composite,
};

/// What a norm subtracts and adds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormKind {
    /// RMSNorm: no centring, no bias.
    Rms,
    /// LayerNorm: centred, with a bias.
    Layer,
}

impl NormKind {
    fn centred(self) -> bool {
        self == NormKind::Layer
    }
}

/// The forward results of a norm over rows (rows, d).
pub struct NormForward<T> {
    /// y, (rows, d).
    pub y: T,
    /// μ per row, (rows); zeros for RMSNorm.
    pub mean: T,
    /// r = 1 / √(var + ε) per row, (rows).
    pub rstd: T,
}

/// The gradients of a norm.
pub struct NormGrads<T> {
    /// ∂x, (rows, d).
    pub x: T,
    /// ∂w, (d).
    pub weight: T,
    /// ∂b, (d); `None` for RMSNorm.
    pub bias: Option<T>,
}

/// The forward results of BatchNorm in training over x (rows, d).
pub struct BatchNormForward<T> {
    /// y, (rows, d).
    pub y: T,
    /// μ per column, (d).
    pub mean: T,
    /// σ² per column (biased: divided by the rows), (d).
    pub var: T,
}

/// Backends that normalise rows in one pass each way.
pub trait NormOps: MatmulOps {
    /// The norm of every row of x (rows, d) with weight w (d) and, for
    /// LayerNorm, bias b (d) (see the module doc).
    fn norm_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        eps: f64,
        kind: NormKind,
    ) -> NormForward<FloatTensor<Self>> {
        norm_forward_composite::<Self>(x, weight, bias, eps, kind)
    }

    /// The gradients from ∂y (rows, d), given the forward's x, w and row
    /// statistics.
    fn norm_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stats: (FloatTensor<Self>, FloatTensor<Self>),
        kind: NormKind,
        grad_y: FloatTensor<Self>,
    ) -> NormGrads<FloatTensor<Self>> {
        norm_backward_composite::<Self>(x, weight, stats, kind, grad_y)
    }

    /// BatchNorm in training: the columns of x (rows, d) normalised by
    /// their own statistics, weight w (d), bias b (d) (see the module doc).
    fn batch_norm_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        eps: f64,
    ) -> BatchNormForward<FloatTensor<Self>> {
        batch_norm_forward_composite::<Self>(x, weight, bias, eps)
    }

    /// BatchNorm's gradients from ∂y (rows, d), given the forward's x, w
    /// and column statistics (μ, σ²).
    fn batch_norm_backward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        stats: (FloatTensor<Self>, FloatTensor<Self>),
        eps: f64,
        grad_y: FloatTensor<Self>,
    ) -> NormGrads<FloatTensor<Self>> {
        batch_norm_backward_composite::<Self>(x, weight, stats, eps, grad_y)
    }
}

/// BatchNorm in training of `x` (rows ≥ 2, d) with `weight` and `bias`
/// (d): (y (rows, d), differentiable in all three; the batch's μ (d); its
/// biased σ² (d)), the statistics without gradient (see the module doc).
///
/// Fails, naming the argument, if `weight` or `bias` is not of length d,
/// on fewer than two rows (the variance of one position is not defined),
/// or unless every input is of one float dtype on one device.
pub fn batch_norm<B: NormOps>(
    x: Tensor<B, 2>,
    weight: Tensor<B, 1>,
    bias: Tensor<B, 1>,
    eps: f64,
) -> Result<(Tensor<B, 2>, Tensor<B, 1>, Tensor<B, 1>)> {
    const OP: &str = "batch_norm";
    let [rows, d] = x.dims();
    check::min_axis(OP, "x (rows ≥ 2, d)", &[rows, d], 0, 2)?;
    check::shape(OP, "weight (d)", &[d], &weight.dims())?;
    check::shape(OP, "bias (d)", &[d], &bias.dims())?;
    check::floats_on_one_device(
        OP,
        &[arg("x", &x), arg("weight", &weight), arg("bias", &bias)],
    )?;
    let out = B::batch_norm_forward(float(x), float(weight), float(bias), eps);
    Ok((tensor(out.y), tensor(out.mean), tensor(out.var)))
}

/// The norm of the last dimension of `x` (…, d ≥ 1) with `weight` (d) and,
/// for LayerNorm, `bias` (d); differentiable in all three.
///
/// Fails, naming the argument, if `weight` or `bias` is not of length d
/// (the GPU kernels would read past them), if RMSNorm is given a bias (it
/// has none; the bias would get no gradient), or unless every input is of
/// one float dtype on one device.
pub fn norm<B: NormOps, const D: usize>(
    x: Tensor<B, D>,
    weight: Tensor<B, 1>,
    bias: Option<Tensor<B, 1>>,
    eps: f64,
    kind: NormKind,
) -> Result<Tensor<B, D>> {
    validate(&x, &weight, bias.as_ref(), kind)?;
    let dims = x.dims();
    let d = dims[D - 1];
    let rows = dims[..D - 1].iter().product::<usize>();
    let flat = x.reshape([rows, d]);
    let out = B::norm_forward(float(flat), float(weight), bias.map(float), eps, kind);
    Ok(tensor::<B, 2>(out.y).reshape(dims))
}

/// The input checks of [`norm`].
fn validate<B: Backend, const D: usize>(
    x: &Tensor<B, D>,
    weight: &Tensor<B, 1>,
    bias: Option<&Tensor<B, 1>>,
    kind: NormKind,
) -> Result<()> {
    const OP: &str = "norm";
    let dims = x.dims();
    check::min_rank(OP, "x (…, d)", 1, &dims)?;
    check::min_axis(OP, "x (…, d ≥ 1)", &dims, D - 1, 1)?;
    let d = dims[D - 1];
    check::shape(OP, "weight (d)", &[d], &weight.dims())?;
    let mut args = vec![arg("x", x), arg("weight", weight)];
    if let Some(bias) = bias {
        if !kind.centred() {
            return Err(Error::config("norm: bias", "RMSNorm takes no bias"));
        }
        check::shape(OP, "bias (d)", &[d], &bias.dims())?;
        args.push(arg("bias", bias));
    }
    check::floats_on_one_device(OP, &args)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Autodiff;
    use burn::tensor::Tolerance;
    use burn_flex::Flex;

    type B = Autodiff<Flex>;

    /// The norm as autodiff sees it through plain tensor ops.
    fn reference(x: Tensor<B, 3>, w: Tensor<B, 1>, b: Option<Tensor<B, 1>>) -> Tensor<B, 3> {
        let d = w.dims()[0];
        let centred = match b {
            Some(_) => x.clone() - x.mean_dim(2),
            None => x,
        };
        let rstd = centred
            .clone()
            .square()
            .mean_dim(2)
            .add_scalar(1e-5)
            .sqrt()
            .recip();
        let y = centred * rstd * w.reshape([1, 1, d]);
        match b {
            Some(b) => y + b.reshape([1, 1, d]),
            None => y,
        }
    }

    /// Outputs and every gradient of the op equal autodiff of the tensor
    /// ops, for both kinds.
    #[test]
    fn op_matches_autodiff_of_tensor_ops() {
        let device = Default::default();
        let (batch, len, d) = (2, 5, 7);
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(2);
        for kind in [NormKind::Rms, NormKind::Layer] {
            let mut leaf = |shape: Vec<usize>| {
                crate::random::normal::<B, 1>(
                    &mut rng,
                    [shape.iter().product::<usize>()],
                    0.5,
                    1.0,
                    &device,
                )
            };
            let x = leaf(vec![batch, len, d])
                .reshape([batch, len, d])
                .require_grad();
            let w = leaf(vec![d]).require_grad();
            let b = kind.centred().then(|| leaf(vec![d]).require_grad());
            let g = leaf(vec![batch, len, d]).reshape([batch, len, d]);
            let ours = norm(x.clone(), w.clone(), b.clone(), 1e-5, kind).unwrap();
            let theirs = reference(x.clone(), w.clone(), b.clone());
            let tol = Tolerance::<f32>::absolute(1e-5);
            ours.to_data().assert_approx_eq(&theirs.to_data(), tol);
            let grads_ours = (ours * g.clone()).sum().backward();
            let grads_theirs = (theirs * g).sum().backward();
            x.grad(&grads_ours)
                .unwrap()
                .to_data()
                .assert_approx_eq(&x.grad(&grads_theirs).unwrap().to_data(), tol);
            w.grad(&grads_ours)
                .unwrap()
                .to_data()
                .assert_approx_eq(&w.grad(&grads_theirs).unwrap().to_data(), tol);
            if let Some(b) = b {
                b.grad(&grads_ours)
                    .unwrap()
                    .to_data()
                    .assert_approx_eq(&b.grad(&grads_theirs).unwrap().to_data(), tol);
            }
        }
    }

    /// BatchNorm's op: y, the statistics and every gradient equal autodiff
    /// of the same normalisation in plain tensor ops; and its errors.
    #[test]
    fn batch_norm_matches_autodiff_of_tensor_ops() {
        let device = Default::default();
        let (rows, d) = (9, 4);
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(3);
        let mut leaf = |n: usize| crate::random::normal::<B, 1>(&mut rng, [n], 0.5, 1.5, &device);
        let x = leaf(rows * d).reshape([rows, d]).require_grad();
        let (w, b) = (leaf(d).require_grad(), leaf(d).require_grad());
        let g = leaf(rows * d).reshape([rows, d]);
        let (ours, mean, var) = batch_norm(x.clone(), w.clone(), b.clone(), 1e-5).unwrap();
        let centred = x.clone() - x.clone().mean_dim(0);
        let their_var = centred.clone().square().mean_dim(0);
        let theirs =
            centred * their_var.clone().add_scalar(1e-5).sqrt().recip() * w.clone().reshape([1, d])
                + b.clone().reshape([1, d]);
        let tol = Tolerance::<f32>::absolute(1e-5);
        ours.to_data().assert_approx_eq(&theirs.to_data(), tol);
        mean.to_data()
            .assert_approx_eq(&x.clone().mean_dim(0).reshape([d]).to_data(), tol);
        var.to_data()
            .assert_approx_eq(&their_var.reshape([d]).to_data(), tol);
        let grads_ours = (ours * g.clone()).sum().backward();
        let grads_theirs = (theirs * g).sum().backward();
        x.grad(&grads_ours)
            .unwrap()
            .to_data()
            .assert_approx_eq(&x.grad(&grads_theirs).unwrap().to_data(), tol);
        for t in [&w, &b] {
            t.grad(&grads_ours)
                .unwrap()
                .to_data()
                .assert_approx_eq(&t.grad(&grads_theirs).unwrap().to_data(), tol);
        }
        let one_row = x.clone().narrow(0, 0, 1);
        let err = batch_norm(one_row, w.clone(), b.clone(), 1e-5)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains("batch_norm") && err.contains("rows ≥ 2"),
            "{err}"
        );
        let err = batch_norm(x, w.narrow(0, 0, 3), b, 1e-5)
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("batch_norm: weight"), "{err}");
    }
}
