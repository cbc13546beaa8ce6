//! The companion SSM's kernel in O(N + L) memory (SpaceTime's
//! `companion_krylov`, the paper's fast path): never forming the N × N
//! matrix or the N × L Krylov states.
//!
//! For A = S + p e_{N−1}ᵀ, the generating function of K_l = cᵀ Aˡ b over
//! l < L, evaluated at the L-th roots of unity z, is
//! W(z) = q(c̃, b) + q(c̃, p)·q(e, b) / (z̄ − q(e, p)) with c̃ = c − (A^L)ᵀc,
//! e = e_{N−1}, q(u, v) = DFT_L of the length-L fold of the correlation
//! Σ_i u[i + j]·v[i] (j < N); K = the inverse real DFT of W. The official
//! code builds the roots z̄_m = exp(2πi·m/L) in complex64 whatever the
//! dtype; they are rounded the same way here, so a float64 kernel equals
//! the official one to rounding (with float64 roots it would differ by
//! ~1e-8 relative).

use burn::tensor::{Tensor, TensorData};

use crate::complex::ComplexTensor;
use crate::error::Result;
use crate::ops::{SsmBackend, irfft, matmul, rfft};

/// z̄_m = exp(2πi·m/L), m ≤ L/2, as torch makes them in complex64:
/// θ = f32(f32(f32(2π)·m)/L), then f32 cosine and sine.
fn roots(len: usize) -> (Vec<f64>, Vec<f64>) {
    let two_pi = std::f32::consts::TAU;
    (0..len / 2 + 1)
        .map(|m| {
            let theta = (two_pi * m as f32) / len as f32;
            let theta = theta as f64;
            (theta.cos() as f32 as f64, theta.sin() as f32 as f64)
        })
        .unzip()
}

/// q(u, v) for u, v (H, N): the length-L DFT (L/2 + 1 bins) of the fold of
/// corr(u, v)[j] = Σ_i u[i + j]·v[i], j < N.
fn folded_spectrum<B: SsmBackend>(
    u: Tensor<B, 2>,
    v: Tensor<B, 2>,
    len: usize,
) -> Result<ComplexTensor<B, 2>> {
    let [h, n] = u.dims();
    let (ur, ui) = rfft(u, 2 * n)?;
    let (vr, vi) = rfft(v, 2 * n)?;
    let product = ComplexTensor::new(ur, ui).mul(&ComplexTensor::new(vr, vi).conj());
    let corr = irfft(product.re, product.im, 2 * n)?.narrow(1, 0, n);
    let chunks = n.div_ceil(len);
    let corr = if chunks * len > n {
        let pad = Tensor::zeros([h, chunks * len - n], (&corr.device(), corr.dtype()));
        Tensor::cat(vec![corr, pad], 1)
    } else {
        corr
    };
    let folded = corr.reshape([h, chunks, len]).sum_dim(1).reshape([h, len]);
    let (re, im) = rfft(folded, len)?;
    Ok(ComplexTensor::new(re, im))
}

/// The kernels K (H, len) of the companion systems A_h = S + p_h e_{N−1}ᵀ with
/// b, c (H, N), by the fast path. Differentiable in p, b, c.
pub fn companion_fft_kernel<B: SsmBackend>(
    len: usize,
    p: Tensor<B, 2>,
    b: Tensor<B, 2>,
    c: Tensor<B, 2>,
) -> Result<Tensor<B, 2>> {
    let [h, n] = p.dims();
    // c̃ = c − (A^L)ᵀ c, by repeated squaring of A.
    let a = super::krylov::companion_matrix(p.clone());
    let mut power: Option<Tensor<B, 3>> = None;
    let mut square = a;
    let mut rest = len;
    while rest > 0 {
        if rest & 1 == 1 {
            power = Some(match power {
                Some(t) => matmul(t, square.clone())?,
                None => square.clone(),
            });
        }
        rest >>= 1;
        if rest > 0 {
            square = matmul(square.clone(), square)?;
        }
    }
    let power = power.expect("len ≥ 1");
    let c_tilde = c.clone() - matmul(c.reshape([h, 1, n]), power)?.reshape([h, n]);
    let e = {
        let values: Vec<f64> = (0..h * n)
            .map(|i| if i % n == n - 1 { 1.0 } else { 0.0 })
            .collect();
        Tensor::<B, 2>::from_data(TensorData::new(values, [h, n]), &p.device()).cast(p.dtype())
    };
    let q_cb = folded_spectrum(c_tilde.clone(), b.clone(), len)?;
    let q_cp = folded_spectrum(c_tilde, p.clone(), len)?;
    let q_eb = folded_spectrum(e.clone(), b, len)?;
    let q_ep = folded_spectrum(e, p.clone(), len)?;
    let (zr, zi) = roots(len);
    let bins = zr.len();
    let root = |v: Vec<f64>| {
        Tensor::<B, 2>::from_data(TensorData::new(v, [1, bins]), &p.device()).cast(p.dtype())
    };
    let z = ComplexTensor::new(root(zr), root(zi));
    let denominator = z.sub(&q_ep);
    let w = q_cb.add(&q_cp.mul(&q_eb).div(&denominator));
    irfft(w.re, w.im, len)
}

#[cfg(test)]
mod tests {
    use burn::backend::Flex;
    use burn::tensor::{DType, Tensor, TensorData};
    use rand::SeedableRng;
    use rand_distr::{Distribution, Normal};

    use super::companion_fft_kernel;
    use crate::layers::spacetime::{companion_matrix, krylov_kernel, row_norm};

    fn draw(rng: &mut rand_chacha::ChaCha8Rng, h: usize, n: usize) -> Tensor<Flex, 2> {
        let normal = Normal::new(0.0, 1.0).unwrap();
        let values: Vec<f64> = (0..h * n).map(|_| normal.sample(rng)).collect();
        Tensor::<Flex, 2>::from_data(TensorData::new(values, [h, n]), &Default::default())
            .cast(DType::F64)
    }

    /// The fast path equals the Krylov kernel, with N < L, N > L (the fold)
    /// and odd L, to the complex64 roots' rounding.
    #[test]
    fn fast_kernel_equals_the_krylov_kernel() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for (h, n, len) in [(3, 8, 64), (2, 16, 7), (2, 5, 33), (1, 1, 9)] {
            let p = row_norm(draw(&mut rng, h, n), 1);
            let (b, c) = (draw(&mut rng, h, n), draw(&mut rng, h, n));
            let fast = companion_fft_kernel(len, p.clone(), b.clone(), c.clone()).unwrap();
            let slow = krylov_kernel(len, companion_matrix(p), b, c).unwrap();
            let fast: Vec<f64> = fast.into_data().to_vec().unwrap();
            let slow: Vec<f64> = slow.into_data().to_vec().unwrap();
            let scale = slow.iter().fold(0.0f64, |m, v| m.max(v.abs()));
            let err = fast
                .iter()
                .zip(&slow)
                .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(
                err <= 1e-5 * scale,
                "H {h} N {n} L {len}: {err} vs scale {scale}"
            );
        }
    }
}
