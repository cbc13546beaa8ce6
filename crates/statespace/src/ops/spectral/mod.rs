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

use crate::error::{Error, Result};
use crate::ops::support::check::{self, arg};

/// Spectral transforms supplied by each backend statespace runs on.
pub trait SpectralOps: Backend {
    /// Real FFT of length `n` along the last dimension: (…, m) → ((…, n/2+1), (…, n/2+1)).
    fn spectral_rfft(signal: FloatTensor<Self>, n: usize)
    -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Inverse real FFT of length `n` along the last dimension: (…, m) × 2 → (…, n).
    fn spectral_irfft(re: FloatTensor<Self>, im: FloatTensor<Self>, n: usize) -> FloatTensor<Self>;
}

/// Real FFT of length `n` (any n ≥ 1) along the last dimension of `signal`
/// (…, m ≥ 1): returns the real and imaginary parts, each (…, n/2 + 1).
/// Differentiable. Fails, naming the argument, on n = 0, an empty last
/// axis or a signal not stored as a float type.
pub fn rfft<B: SpectralOps, const D: usize>(
    signal: Tensor<B, D>,
    n: usize,
) -> Result<(Tensor<B, D>, Tensor<B, D>)> {
    const OP: &str = "rfft";
    transform_length(OP, n)?;
    let dims = signal.dims();
    check::min_rank(OP, "signal (…, m)", 1, &dims)?;
    check::min_axis(OP, "signal (…, m ≥ 1)", &dims, D - 1, 1)?;
    check::float_dtype(OP, "signal", signal.dtype())?;
    let (re, im) = B::spectral_rfft(signal.into_primitive().tensor(), n);
    Ok((
        Tensor::from_primitive(TensorPrimitive::Float(re)),
        Tensor::from_primitive(TensorPrimitive::Float(im)),
    ))
}

/// Inverse real FFT of length `n` (any n ≥ 1) along the last dimension of
/// the spectrum (re, im), each (…, m ≥ 1): returns (…, n). Differentiable.
/// Fails, naming the argument, on n = 0, parts of different shapes, an
/// empty last axis, or parts not of one float dtype on one device.
pub fn irfft<B: SpectralOps, const D: usize>(
    re: Tensor<B, D>,
    im: Tensor<B, D>,
    n: usize,
) -> Result<Tensor<B, D>> {
    const OP: &str = "irfft";
    transform_length(OP, n)?;
    let dims = re.dims();
    check::min_rank(OP, "re (…, m)", 1, &dims)?;
    check::min_axis(OP, "re (…, m ≥ 1)", &dims, D - 1, 1)?;
    check::shape(OP, "im (…, m)", &dims, &im.dims())?;
    check::floats_on_one_device(OP, &[arg("re", &re), arg("im", &im)])?;
    Ok(Tensor::from_primitive(TensorPrimitive::Float(
        B::spectral_irfft(
            re.into_primitive().tensor(),
            im.into_primitive().tensor(),
            n,
        ),
    )))
}

/// The transform length `n` of `op` is at least 1.
fn transform_length(op: &str, n: usize) -> Result<()> {
    if n >= 1 {
        Ok(())
    } else {
        Err(Error::config(
            format!("{op}: n"),
            "the transform length must be at least 1",
        ))
    }
}

mod autodiff;
pub(crate) mod cpu;
#[cfg(feature = "cuda")]
mod cube;
