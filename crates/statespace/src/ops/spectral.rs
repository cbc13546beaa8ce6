//! Real FFTs of any length along the last dimension.
//!
//! burn-signal's FFTs accept only powers of two, and its CPU (Flex) kernel
//! computes f64 transforms with f32-accurate twiddles (about 6e-7 absolute
//! error at n = 256, measured), too coarse for f64 reference work. These
//! ops use `realfft` (mixed-radix, any n, exact in f64) on the CPU.
//!
//! Conventions (as numpy/torch):
//! - rfft: X_k = Σ_{j<n} x_j e^{−2πijk/n}, k = 0..=n/2; x is truncated or
//!   zero-padded to n.
//! - irfft: x_j = (1/n) Σ_{k<n} X_k e^{2πijk/n} with X Hermitian-extended;
//!   the imaginary parts of the DC (and, for even n, Nyquist) bins are
//!   ignored; missing bins are zero.

use burn::backend::{Backend, backend_extension, tensor::FloatTensor};
use burn::tensor::Tensor;

/// Spectral transforms supplied by each backend.
#[backend_extension(Flex, Cube: cfg(feature = "cuda"), Autodiff)]
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
pub fn rfft<const D: usize>(signal: Tensor<D>, n: usize) -> (Tensor<D>, Tensor<D>) {
    assert!(n >= 1, "rfft: n must be at least 1");
    let (re, im) =
        <burn::backend::Dispatch as SpectralOps>::spectral_rfft(signal.into_dispatch(), n);
    (Tensor::from_dispatch(re), Tensor::from_dispatch(im))
}

/// Inverse real FFT of length `n` (any n ≥ 1) along the last dimension of
/// the spectrum (re, im), each (…, m): returns (…, n). Differentiable.
pub fn irfft<const D: usize>(re: Tensor<D>, im: Tensor<D>, n: usize) -> Tensor<D> {
    assert!(n >= 1, "irfft: n must be at least 1");
    Tensor::from_dispatch(<burn::backend::Dispatch as SpectralOps>::spectral_irfft(
        re.into_dispatch(),
        im.into_dispatch(),
        n,
    ))
}

mod autodiff;
#[cfg(feature = "cuda")]
mod cube;
mod flex;
