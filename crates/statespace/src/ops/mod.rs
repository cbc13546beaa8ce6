//! SSM-specific tensor operations as burn backend extensions: each has a
//! CPU implementation, a GPU implementation where the `cuda` feature is on,
//! and an autodiff implementation with its own backward.
//!
//! Every entry point (the functions re-exported here) checks the shapes,
//! dtypes and devices of its tensors before any kernel indexes by them and
//! returns a [`crate::Result`] whose error names the op and the argument
//! ([`mean_cross_entropy`] panics with that error instead; callers check
//! first with [`cross_entropy::check_cross_entropy`]); the `*_composite`
//! and reference functions, which the backends run on
//! inputs an entry point checked, do not check again. The CPU kernels
//! compute f64 inputs in f64 and every other float type in f32 (16-bit
//! inputs widened, results narrowed back).

pub mod adamw;
pub mod cauchy;
pub mod causal_conv1d;
pub mod cross_entropy;
#[cfg(feature = "cuda")]
mod cuda_libs;
pub mod diagonal_kernel;
pub mod dplr_spectrum;
pub mod embedding;
pub mod fft_conv;
pub mod gelu;
pub mod matmul;
pub mod norm;
pub mod selective_scan;
pub mod spectral;
pub mod ssd;
pub(crate) mod support;
pub mod vandermonde;

pub use adamw::{AdamWOps, AdamWScalars};
pub use cauchy::{CauchyOps, cauchy};
pub use causal_conv1d::{CausalConv1dOps, causal_conv1d};
pub use cross_entropy::{CrossEntropyOps, mean_cross_entropy};
pub use diagonal_kernel::{DiagonalKernelOps, diagonal_kernel};
pub use dplr_spectrum::{DplrSpectrumOps, dplr_spectrum};
pub use embedding::{EmbeddingOps, embedding};
pub use fft_conv::{FftConvOps, causal_conv};
pub use gelu::{GeluOps, gelu};
pub use matmul::{MatmulOps, add_bias, matmul};
pub use norm::{NormKind, NormOps, norm};
pub use selective_scan::{SelectiveScan, SelectiveScanOps, SequenceStarts, selective_scan};
pub use spectral::{SpectralOps, irfft, rfft};
pub use ssd::{Ssd, SsdOps, SsdProblem, ssd, ssd_chunked};
pub use vandermonde::{VandermondeOps, vandermonde};

/// Everything statespace's layers need from a backend.
pub trait SsmBackend:
    SpectralOps
    + SelectiveScanOps
    + SsdOps
    + FftConvOps
    + VandermondeOps
    + DiagonalKernelOps
    + CauchyOps
    + DplrSpectrumOps
    + MatmulOps
    + AdamWOps
    + CausalConv1dOps
    + EmbeddingOps
    + NormOps
    + CrossEntropyOps
    + GeluOps
{
}

impl<
    B: SpectralOps
        + SelectiveScanOps
        + SsdOps
        + FftConvOps
        + VandermondeOps
        + DiagonalKernelOps
        + CauchyOps
        + DplrSpectrumOps
        + MatmulOps
        + AdamWOps
        + CausalConv1dOps
        + EmbeddingOps
        + NormOps
        + CrossEntropyOps
        + GeluOps,
> SsmBackend for B
{
}
