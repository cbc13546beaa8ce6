//! Causal long convolution through the FFT, as a backend extension with a
//! fused CPU kernel and its own backward.
//!
//! y[b, c, h, t] = Σ_{s ≤ t} k[c, h, t − s] · u[b, h, s] for t < L, with
//! u (B, H, L) and k (C, H, Lk). Computed as a linear (zero-padded)
//! convolution with FFTs of length n ≥ L + Lk − 1, so nothing wraps around.
//! The backward pass is two correlations in the same frequency domain:
//! ∂/∂u = IFFT(Σ_c conj(K_c)·GY_c)[..L], ∂/∂k = IFFT(Σ_b conj(U_b)·GY_b)[..Lk].

mod autodiff;
mod composite;
#[cfg(feature = "cuda")]
mod cube;
mod flex;

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};

pub use composite::causal_conv_composite;

/// The FFT length used for a convolution of L outputs with Lk taps.
pub fn fft_len(len: usize, k_len: usize) -> usize {
    (len + k_len - 1).next_power_of_two()
}

/// Backends that run the causal FFT convolution.
pub trait FftConvOps: Backend {
    /// y (B, C, H, L) from u (B, H, L) and k (C, H, Lk), Lk ≤ L.
    fn fft_conv(u: FloatTensor<Self>, k: FloatTensor<Self>) -> FloatTensor<Self>;

    /// (∂/∂u (B, H, L), ∂/∂k (C, H, Lk)) from the gradient of y.
    fn fft_conv_backward(
        u: FloatTensor<Self>,
        k: FloatTensor<Self>,
        grad_y: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);
}

/// Causal convolution of every channel with its kernels: u (B, H, L),
/// k (C, H, Lk) with any Lk (taps past L are unused) → (B, C, H, L).
/// Differentiable in both arguments.
pub fn causal_conv<B: FftConvOps>(u: Tensor<B, 3>, k: Tensor<B, 3>) -> Tensor<B, 4> {
    let len = u.dims()[2];
    let k_len = k.dims()[2].min(len);
    let k = k.narrow(2, 0, k_len);
    let prim = |t: Tensor<B, 3>| t.into_primitive().tensor();
    Tensor::from_primitive(TensorPrimitive::Float(B::fft_conv(prim(u), prim(k))))
}
