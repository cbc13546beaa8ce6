//! The convolution composed of differentiable spectral ops: the reference
//! the fused kernels are tested against, and the GPU path.

use burn::tensor::Tensor;

use crate::ops::spectral::SpectralOps;
use crate::ops::support::primitive::{float, tensor};

/// The op (the circular convolution modulo n of the module doc) through
/// the backend's real FFTs, broadcast complex products and tensor reshapes:
/// u (B, L ≥ 1, H), k (C, H, 1 ≤ Lk ≤ n), d (C, H), n a power of two ≥ L
/// → (B, L, C·H). Unchecked (the backends run it on inputs the entry
/// points checked).
pub fn fft_conv_composite<B: SpectralOps>(
    u: Tensor<B, 3>,
    k: Tensor<B, 3>,
    d: Tensor<B, 2>,
    n: usize,
) -> Tensor<B, 3> {
    let [batch, len, h] = u.dims();
    let c = k.dims()[0];
    if len == 1 {
        // One step: y = (k₀ + d)·u, formed with reshapes only. (On the
        // CubeCL backend the general path, which swaps a unit dimension,
        // returned wrong values at L = 1: parity suite, 2026-11-29.)
        let w = k.narrow(2, 0, 1).reshape([c, h]) + d;
        return (u.reshape([batch, 1, 1, h]) * w.reshape([1, 1, c, h])).reshape([batch, 1, c * h]);
    }
    let u = u.swap_dims(1, 2); // (B, H, L)
    let skip = d.unsqueeze_dim::<3>(2).unsqueeze_dim::<4>(0) * u.clone().unsqueeze_dim::<4>(1);
    let y = conv_bchl(u, k, n) + skip; // (B, C, H, L)
    y.reshape([batch, c * h, len]).swap_dims(1, 2)
}

/// u (B, H, L) ∗ k (C, H, Lk) modulo n → (B, C, H, L).
fn conv_bchl<B: SpectralOps>(u: Tensor<B, 3>, k: Tensor<B, 3>, n: usize) -> Tensor<B, 4> {
    let len = u.dims()[2];
    let rfft = |x: Tensor<B, 3>| {
        let (re, im) = B::spectral_rfft(float(x), n);
        (tensor::<B, 3>(re), tensor::<B, 3>(im))
    };
    let (u_re, u_im) = rfft(u);
    let (k_re, k_im) = rfft(k);
    let (u_re, u_im) = (u_re.unsqueeze_dim::<4>(1), u_im.unsqueeze_dim::<4>(1)); // (B, 1, H, F)
    let (k_re, k_im) = (k_re.unsqueeze_dim::<4>(0), k_im.unsqueeze_dim::<4>(0)); // (1, C, H, F)
    let y_re = u_re.clone() * k_re.clone() - u_im.clone() * k_im.clone();
    let y_im = u_re * k_im + u_im * k_re;
    tensor::<B, 4>(B::spectral_irfft(float(y_re), float(y_im), n)).narrow(3, 0, len)
}
