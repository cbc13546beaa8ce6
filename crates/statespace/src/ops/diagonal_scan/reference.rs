//! The diagonal scan in tensor ops: the semantics every backend is checked
//! against (the forward), and the backward every backend runs around its
//! own forward scan.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;

use super::{DiagonalScanGrads, DiagonalScanOps};
use crate::ops::support::primitive::{float, tensor};

/// A split-complex tensor (…, 2F) as its (real, imaginary) halves.
fn halves<B: Backend, const D: usize>(z: Tensor<B, D>) -> (Tensor<B, D>, Tensor<B, D>) {
    let f = z.dims()[D - 1] / 2;
    (z.clone().narrow(D - 1, 0, f), z.narrow(D - 1, f, f))
}

/// The split-complex tensor of two halves.
fn join<B: Backend, const D: usize>(re: Tensor<B, D>, im: Tensor<B, D>) -> Tensor<B, D> {
    Tensor::cat(vec![re, im], D - 1)
}

/// a·b, split-complex, broadcasting as the parts do.
fn mul<B: Backend, const D: usize>(a: &Tensor<B, D>, b: &Tensor<B, D>) -> Tensor<B, D> {
    let ((ar, ai), (br, bi)) = (halves(a.clone()), halves(b.clone()));
    join(
        ar.clone() * br.clone() - ai.clone() * bi.clone(),
        ar * bi + ai * br,
    )
}

/// conj(z), split-complex.
fn conj<B: Backend, const D: usize>(z: Tensor<B, D>) -> Tensor<B, D> {
    let (re, im) = halves(z);
    join(re, im.neg())
}

/// x (B, L, 2F) of x\[t\] = λ ⊙ x[t∓1] + u\[t\] from x0, by a Hillis–Steele
/// scan: x0 folds into the first step, then log₂ L doublings
/// y\[t\] += λ^s·y[t−s] (s = 1, 2, 4, …; λ^s by squaring), each over the
/// whole tensor. Reverse scans run on the flipped sequence. Unchecked:
/// [`super::diagonal_scan`] is the checked entry.
pub fn diagonal_scan_composite<B: Backend>(
    lambda: FloatTensor<B>,
    u: FloatTensor<B>,
    x0: FloatTensor<B>,
    reverse: bool,
) -> FloatTensor<B> {
    let u: Tensor<B, 3> = tensor(u);
    let [batch, len, width] = u.dims();
    let lambda: Tensor<B, 3> = tensor::<B, 1>(lambda).reshape([1, 1, width]);
    let x0: Tensor<B, 3> = tensor::<B, 2>(x0).reshape([batch, 1, width]);
    let mut y = if reverse { u.flip([1]) } else { u };
    if len == 0 {
        return float(y);
    }
    let first = y.clone().narrow(1, 0, 1) + mul(&lambda, &x0);
    y = if len > 1 {
        Tensor::cat(vec![first, y.narrow(1, 1, len - 1)], 1)
    } else {
        first
    };
    let mut power = lambda;
    let mut shift = 1;
    while shift < len {
        let earlier = y.clone().narrow(1, 0, len - shift);
        let carried = mul(&power, &earlier);
        let head = Tensor::zeros([batch, shift, width], (&y.device(), y.dtype()));
        y = y + Tensor::cat(vec![head, carried], 1);
        power = mul(&power, &power);
        shift *= 2;
    }
    float(if reverse { y.flip([1]) } else { y })
}

/// The three gradients from ∂ℓ/∂x: the adjoint h is the backend's scan
/// of ∂ℓ/∂x with conj(λ) in the other direction from zero; G(u) = h,
/// G(x0) = conj(λ)·h at the first step, G(λ) = Σ_{b,t} conj(x[t∓1])·h\[t\]
/// with x0 before the first step.
pub fn diagonal_scan_backward_composite<B: DiagonalScanOps>(
    lambda: FloatTensor<B>,
    x0: FloatTensor<B>,
    x: FloatTensor<B>,
    grad: FloatTensor<B>,
    reverse: bool,
) -> DiagonalScanGrads<FloatTensor<B>> {
    let lambda: Tensor<B, 1> = tensor(lambda);
    let x0: Tensor<B, 2> = tensor(x0);
    let x: Tensor<B, 3> = tensor(x);
    let [batch, len, width] = x.dims();
    let conj_lambda = conj(lambda);
    let h: Tensor<B, 3> = tensor(B::diagonal_scan(
        float(conj_lambda.clone()),
        grad,
        float(x0.zeros_like()),
        !reverse,
    ));
    let first = if reverse { len - 1 } else { 0 };
    let h_first = h.clone().narrow(1, first, 1).reshape([batch, width]);
    let grad_x0 = mul(&conj_lambda.clone().reshape([1, width]), &h_first);
    let start = x0.reshape([batch, 1, width]);
    let before = match (len, reverse) {
        (1, _) => start,
        (_, false) => Tensor::cat(vec![start, x.narrow(1, 0, len - 1)], 1),
        (_, true) => Tensor::cat(vec![x.narrow(1, 1, len - 1), start], 1),
    };
    let grad_lambda = mul(&conj(before), &h)
        .sum_dim(0)
        .sum_dim(1)
        .reshape([width]);
    DiagonalScanGrads {
        lambda: float(grad_lambda),
        u: float(h),
        x0: float(grad_x0),
    }
}
