//! Causal long convolution through the FFT.

use burn::tensor::Tensor;

use super::spectral::{SpectralOps, irfft, rfft};

/// Causal convolution of every channel with its kernels:
/// y[b, c, h, t] = Σ_{s ≤ t} k[c, h, t − s] · u[b, h, s], for t < L.
///
/// `u` is (B, H, L), `k` is (C, H, Lk) with any Lk (kernel taps past L are
/// unused); returns (B, C, H, L). Computed as a linear (zero-padded)
/// convolution with FFTs of length ≥ L + Lk − 1, so nothing wraps around.
/// Differentiable in both arguments.
pub fn causal_conv<B: SpectralOps>(u: Tensor<B, 3>, k: Tensor<B, 3>) -> Tensor<B, 4> {
    let [_, _, len] = u.dims();
    let k_len = k.dims()[2].min(len);
    let k = k.narrow(2, 0, k_len);
    let n = (len + k_len - 1).next_power_of_two();
    let (u_re, u_im) = rfft(u, n);
    let (k_re, k_im) = rfft(k, n);
    let (u_re, u_im) = (u_re.unsqueeze_dim::<4>(1), u_im.unsqueeze_dim::<4>(1)); // (B, 1, H, F)
    let (k_re, k_im) = (k_re.unsqueeze_dim::<4>(0), k_im.unsqueeze_dim::<4>(0)); // (1, C, H, F)
    let y_re = u_re.clone() * k_re.clone() - u_im.clone() * k_im.clone();
    let y_im = u_re * k_im + u_im * k_re;
    irfft(y_re, y_im, n).narrow(3, 0, len)
}
