//! The 2-D scan in tensor ops: the semantics every backend is checked
//! against, and its backward by autodiff of the same ops.

use burn::backend::Autodiff;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;

use super::Scan2dInputs;
use crate::ops::support::primitive::{float, tensor};

/// y (B, T, V, E) by a loop over the anti-diagonals s = t + v of the grid:
/// both predecessors of a cell, (v, t − 1) and (v − 1, t), lie on the
/// diagonal before, so each of the T + V − 1 steps is elementwise in the
/// states of the step before. Unchecked: [`super::scan2d`] is the checked
/// entry.
pub fn scan2d_composite<B: Backend>(x: Scan2dInputs<FloatTensor<B>>) -> FloatTensor<B> {
    let x = x.map(tensor::<B, 4>);
    let [b, t, v, e] = x.u.dims();
    let n = x.b1.dims()[3];
    // Cell (v, t) sits at step s = t + v of the skewed grid: S steps of
    // (B, F, 1, V), channels or states before variates.
    let skew = |x: Tensor<B, 4>| -> Vec<Tensor<B, 4>> {
        let f = x.dims()[3];
        let options = (&x.device(), x.dtype());
        let lanes = (0..v)
            .map(|j| {
                let mut parts = Vec::with_capacity(3);
                if j > 0 {
                    parts.push(Tensor::zeros([b, j, 1, f], options));
                }
                parts.push(x.clone().narrow(2, j, 1));
                if j + 1 < v {
                    parts.push(Tensor::zeros([b, v - 1 - j, 1, f], options));
                }
                Tensor::cat(parts, 1)
            })
            .collect();
        Tensor::cat(lanes, 2)
            .permute([1, 0, 3, 2])
            .chunk(t + v - 1, 0)
            .into_iter()
            .map(|step| step.reshape([b, f, 1, v]))
            .collect()
    };
    let (dt1, dt2, u) = (skew(x.dt1), skew(x.dt2), skew(x.u));
    let (b1, b2, c1, c2) = (skew(x.b1), skew(x.b2), skew(x.c1), skew(x.c2));
    let diag = |a: Tensor<B, 4>| a.reshape([1, e, n, 1]);
    let (a1, a2, a3, a4) = (diag(x.a1), diag(x.a2), diag(x.a3), diag(x.a4));
    let options = (&a1.device(), a1.dtype());
    let mut h1 = Tensor::<B, 4>::zeros([b, e, n, v], options);
    let mut h2 = Tensor::<B, 4>::zeros([b, e, n, v], options);
    let first = Tensor::<B, 4>::zeros([b, e, n, 1], options);
    // The states of variate v − 1 (zero before the first variate).
    let previous_variate = |h: &Tensor<B, 4>| {
        if v > 1 {
            Tensor::cat(vec![first.clone(), h.clone().narrow(3, 0, v - 1)], 3)
        } else {
            first.clone()
        }
    };
    let mut ys = Vec::with_capacity(u.len());
    for (i, u) in u.into_iter().enumerate() {
        let bar1 = (dt1[i].clone() * a1.clone()).exp(); // (B, E, N, V)
        let phi1 = (bar1.clone() - 1.0) / a1.clone();
        let bar4 = (dt2[i].clone() * a4.clone()).exp();
        let phi2 = (bar4.clone() - 1.0) / a4.clone();
        let next2 = bar4 * previous_variate(&h2)
            + phi2.clone() * a3.clone() * previous_variate(&h1)
            + phi2 * b2[i].clone().swap_dims(1, 2) * u.clone();
        h1 = bar1 * h1 + phi1.clone() * a2.clone() * h2 + phi1 * b1[i].clone().swap_dims(1, 2) * u;
        h2 = next2;
        let read = |c: &Tensor<B, 4>, h: Tensor<B, 4>| (h * c.clone().swap_dims(1, 2)).sum_dim(2);
        ys.push((read(&c1[i], h1.clone()) + read(&c2[i], h2.clone())).reshape([b, e, v]));
    }
    let y = Tensor::stack::<4>(ys, 1); // (B, S, E, V)
    // Back from the skewed grid: y[v, t] = y_skew[v, t + v].
    let lanes = (0..v)
        .map(|j| y.clone().narrow(3, j, 1).narrow(1, j, t))
        .collect();
    float(Tensor::cat(lanes, 3).permute([0, 1, 3, 2]))
}

/// Every input's gradient from ∂ℓ/∂y (`grad`), by autodiff of
/// [`scan2d_composite`] on this backend.
pub fn scan2d_backward_composite<B: Backend>(
    x: Scan2dInputs<FloatTensor<B>>,
    grad: FloatTensor<B>,
) -> Scan2dInputs<FloatTensor<B>> {
    let tracked = x.map(|t| Tensor::<Autodiff<B>, 4>::from_inner(tensor::<B, 4>(t)).require_grad());
    let y: Tensor<Autodiff<B>, 4> =
        tensor(scan2d_composite::<Autodiff<B>>(tracked.clone().map(float)));
    let grad = Tensor::<Autodiff<B>, 4>::from_inner(tensor::<B, 4>(grad));
    let grads = (y * grad).sum().backward();
    tracked.map(|t| {
        let zero = t.zeros_like().inner();
        float(t.grad(&grads).unwrap_or(zero))
    })
}
