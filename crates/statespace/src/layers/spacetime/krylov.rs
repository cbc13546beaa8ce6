//! Companion matrices and Krylov sequences A^l b (SpaceTime's `krylov`).

use burn::tensor::backend::Backend;

use crate::error::Result;
use crate::ops::{MatmulOps, matmul};
use burn::tensor::{Tensor, TensorData};

/// An (N, N) 0/1 matrix with ones where `one(i, j)`, of `like`'s dtype and device.
fn pattern<B: Backend>(
    n: usize,
    like: &Tensor<B, 2>,
    one: impl Fn(usize, usize) -> bool,
) -> Tensor<B, 2> {
    let values: Vec<f64> = (0..n * n)
        .map(|at| if one(at / n, at % n) { 1.0 } else { 0.0 })
        .collect();
    Tensor::<B, 2>::from_data(TensorData::new(values, [n, n]), &like.device()).cast(like.dtype())
}

/// The shift matrix S (N, N): ones on the sub-diagonal, S x = (0, x₀, …, x_{N−2}).
pub fn shift_matrix<B: Backend>(n: usize, like: &Tensor<B, 2>) -> Tensor<B, 2> {
    pattern(n, like, |i, j| i == j + 1)
}

/// The companion matrices A_h = S + p_h e_{N−1}ᵀ (H, N, N) of p (H, N): the
/// shift matrix with p as its last column.
pub fn companion_matrix<B: Backend>(p: Tensor<B, 2>) -> Tensor<B, 3> {
    let [h, n] = p.dims();
    let shift = shift_matrix(n, &p).unsqueeze_dim::<3>(0);
    let last = pattern(n, &p, |_, j| j == n - 1);
    let outer = p.reshape([h, n, 1]) * last.unsqueeze_dim::<3>(0);
    shift + outer
}

/// The Krylov states X (H, N, T, M) with X[h, :, t, m] = A_hᵗ x[h, :, m] for
/// t < `len`, of A (H, N, N) and columns x (H, N, M): by repeated squaring
/// as the official `krylov` (⌈log₂ len⌉ products with growing blocks).
pub fn krylov_states<B: MatmulOps>(
    len: usize,
    a: Tensor<B, 3>,
    x: Tensor<B, 3>,
) -> Result<Tensor<B, 4>> {
    let [h, n, m] = x.dims();
    // Columns t·M + m hold A^t x_m.
    let mut states = x;
    let mut power = a;
    let mut have = 1;
    while have < len {
        let take = have.min(len - have);
        let next = matmul(power.clone(), states.clone().narrow(2, 0, take * m))?;
        states = Tensor::cat(vec![states, next], 2);
        have += take;
        if have < len {
            power = matmul(power.clone(), power)?;
        }
    }
    Ok(states.reshape([h, n, len, m]))
}

/// The kernels K[h, l] = c_hᵀ A_hˡ b_h (H, len) of A (H, N, N), b and c (H, N).
pub fn krylov_kernel<B: MatmulOps>(
    len: usize,
    a: Tensor<B, 3>,
    b: Tensor<B, 2>,
    c: Tensor<B, 2>,
) -> Result<Tensor<B, 2>> {
    let [h, n] = b.dims();
    let states = krylov_states(len, a, b.reshape([h, n, 1]))?.reshape([h, n, len]);
    Ok((states * c.reshape([h, n, 1])).sum_dim(1).reshape([h, len]))
}
