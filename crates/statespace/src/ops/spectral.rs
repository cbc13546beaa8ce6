//! Real FFTs of any length along the last dimension, as a backend
//! extension with its own backward.
//!
//! burn's FFTs accept only powers of two, and its CPU (Flex) kernel
//! computes f64 transforms with f32-accurate twiddles (about 6e-7 absolute
//! error at n = 256, measured), too coarse for f64 reference work. On the
//! CPU these ops use `realfft` (mixed-radix, any n, exact in f64).
//!
//! Conventions (as numpy/torch):
//! - rfft: X_k = Σ_{j<n} x_j e^{−2πijk/n}, k = 0..=n/2; x is truncated or
//!   zero-padded to n.
//! - irfft: x_j = (1/n) Σ_{k<n} X_k e^{2πijk/n} with X Hermitian-extended;
//!   the imaginary parts of the DC (and, for even n, Nyquist) bins are
//!   ignored; missing bins are zero.

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};

/// Spectral transforms supplied by each backend statespace runs on.
pub trait SpectralOps: Backend {
    /// Real FFT of length `n` along the last dimension: (…, m) → ((…, n/2+1), (…, n/2+1)).
    fn spectral_rfft(signal: FloatTensor<Self>, n: usize)
    -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Inverse real FFT of length `n` along the last dimension: (…, m) × 2 → (…, n).
    fn spectral_irfft(re: FloatTensor<Self>, im: FloatTensor<Self>, n: usize) -> FloatTensor<Self>;
}

/// Real FFT of length `n` (any n ≥ 1) along the last dimension of `signal`
/// (…, m): returns the real and imaginary parts, each (…, n/2 + 1).
/// Differentiable.
pub fn rfft<B: SpectralOps, const D: usize>(
    signal: Tensor<B, D>,
    n: usize,
) -> (Tensor<B, D>, Tensor<B, D>) {
    assert!(n >= 1, "rfft: n must be at least 1");
    let (re, im) = B::spectral_rfft(signal.into_primitive().tensor(), n);
    (
        Tensor::from_primitive(TensorPrimitive::Float(re)),
        Tensor::from_primitive(TensorPrimitive::Float(im)),
    )
}

/// Inverse real FFT of length `n` (any n ≥ 1) along the last dimension of
/// the spectrum (re, im), each (…, m): returns (…, n). Differentiable.
pub fn irfft<B: SpectralOps, const D: usize>(
    re: Tensor<B, D>,
    im: Tensor<B, D>,
    n: usize,
) -> Tensor<B, D> {
    assert!(n >= 1, "irfft: n must be at least 1");
    Tensor::from_primitive(TensorPrimitive::Float(B::spectral_irfft(
        re.into_primitive().tensor(),
        im.into_primitive().tensor(),
        n,
    )))
}

mod autodiff;
#[cfg(feature = "cuda")]
mod cube;
pub(crate) mod flex;
