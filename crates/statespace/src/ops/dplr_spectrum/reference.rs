//! The DPLR generating function composed from differentiable tensor ops and
//! Cauchy products: the oracle the fused op is tested against. Numerically
//! weaker than the fused op near a pole (its gradient differences the
//! per-row Cauchy sums; see the module doc).

use burn::tensor::Tensor;
use num_complex::Complex64;

use crate::complex::ComplexTensor;
use crate::error::Result;
use crate::ops::{CauchyOps, cauchy};

/// K̂ (H, Cc, S) of Δ (H), λ (H, N), B (H, N), P (r, H, N), C̃ (Cc, H, N)
/// at `nodes`, by Cauchy products at s and −s (the conjugate half is
/// conj(S(−s)) for nodes on the imaginary axis) and the Woodbury identity
/// (r = 1 or 2). Unchecked: shapes are assumed valid; fails only where the
/// Cauchy product refuses its inputs.
pub fn dplr_spectrum_reference<B: CauchyOps>(
    dt: &Tensor<B, 1>,
    lambda: &ComplexTensor<B, 2>,
    b: &ComplexTensor<B, 2>,
    p: &ComplexTensor<B, 3>,
    c: &ComplexTensor<B, 3>,
    nodes: &[Complex64],
) -> Result<ComplexTensor<B, 3>> {
    let [channels, h, n] = c.dims();
    let rank = p.dims()[0];
    let count = nodes.len();
    let both: Vec<Complex64> = nodes
        .iter()
        .copied()
        .chain(nodes.iter().map(|s| -s))
        .collect();
    let dt = dt.clone().unsqueeze_dim::<2>(1); // (H, 1)
    let dt_lambda = lambda.mul_real(&dt);
    // Rows a ∈ [B, P_1..P_r], columns b ∈ [C̃_1..C̃_Cc, Q_1..Q_r], Q = conj(P).
    let rows = cat0(&[b.map(|t| t.unsqueeze_dim::<3>(0)), p.clone()]);
    let cols = cat0(&[c.clone(), p.conj()]);
    let (n_rows, n_cols) = (1 + rank, channels + rank);
    let v = rows
        .map(|t| t.swap_dims(0, 1).unsqueeze_dim::<4>(2))
        .mul(&cols.map(|t| t.swap_dims(0, 1).unsqueeze_dim::<4>(1)))
        .map(|t| t.reshape([h, n_rows * n_cols, n]))
        .mul_real(&dt.unsqueeze_dim::<3>(2));
    let y = cauchy(&v, &dt_lambda, &both)?; // (H, ab, 2S)
    let sums = y
        .map(|t| t.clone().narrow(2, 0, count))
        .add(&y.map(|t| t.narrow(2, count, count)).conj())
        .map(|t| t.reshape([h, n_rows, n_cols, count]));
    let entry = |a: usize, b: usize, width: usize| {
        sums.map(|t| {
            t.clone()
                .narrow(1, a, 1)
                .narrow(2, b, width)
                .reshape([h, width, count])
        })
    };
    let k00 = entry(0, 0, channels);
    let k10: Vec<_> = (0..rank).map(|a| entry(1 + a, 0, channels)).collect();
    let k01: Vec<_> = (0..rank).map(|b| entry(0, channels + b, 1)).collect();
    let k11 = |a: usize, b: usize| entry(1 + a, channels + b, 1);
    let correction = match rank {
        1 => k10[0].mul(&k01[0]).div(&k11(0, 0).add_scalar(1.0)),
        _ => {
            let m00 = k11(0, 0).add_scalar(1.0);
            let m01 = k11(1, 0);
            let m10 = k11(0, 1);
            let m11 = k11(1, 1).add_scalar(1.0);
            let det = m00.mul(&m11).sub(&m01.mul(&m10));
            let t0 = k10[0].mul(&m11.mul(&k01[0]).sub(&m01.mul(&k01[1])));
            let t1 = k10[1].mul(&m00.mul(&k01[1]).sub(&m10.mul(&k01[0])));
            t0.add(&t1).div(&det)
        }
    };
    Ok(k00.sub(&correction))
}

/// Concatenates complex tensors along dimension 0.
fn cat0<B: burn::tensor::backend::Backend>(parts: &[ComplexTensor<B, 3>]) -> ComplexTensor<B, 3> {
    ComplexTensor::new(
        Tensor::cat(parts.iter().map(|p| p.re.clone()).collect(), 0),
        Tensor::cat(parts.iter().map(|p| p.im.clone()).collect(), 0),
    )
}
