//! SSM-specific tensor operations as burn backend extensions: each has a
//! CPU implementation, a GPU implementation where the `cuda` feature is on,
//! and an autodiff implementation with its own backward.
//!
//! Every entry point (the functions re-exported here) checks the shapes,
//! dtypes and devices of its tensors before any kernel indexes by them and
//! returns a [`crate::Result`] whose error names the op and the argument;
//! the `*_composite` and reference functions, which the backends run on
//! inputs an entry point checked, do not check again. The CPU kernels
//! compute f64 inputs in f64 and every other float type in f32 (16-bit
//! inputs widened, results narrowed back).
//!
//! # The layout of an op
//!
//! Each op is a directory `ops/<op>/` whose files have one role each:
//!
//! - `mod.rs`: the module doc (the math, with every shape), the `<Op>Ops`
//!   backend trait, and the checked entry that returns a `Result` (its
//!   checks through `support::check`).
//! - `reference.rs`: the reference composites, the op in burn tensor ops,
//!   unchecked: the semantics every backend is tested against, and what
//!   the trait's defaults run where it has them. `mod.rs` re-exports them
//!   as `<op>::*_composite` (dplr_spectrum's module is public instead).
//! - `cpu.rs`: `impl <Op>Ops for Flex`, a fused host kernel, or an empty
//!   impl whose doc says that the CPU runs the reference composites.
//! - `cube.rs` (`cuda`): `impl <Op>Ops for CubeBackend`, the launches, by
//!   the plan.
//! - `plan.rs`: the launch plan, where a launch is more than one grid over
//!   elements or rows: which inputs the kernels take, the cube geometry,
//!   chunks, segments and grids, in host arithmetic only. Built without
//!   `cuda` too and unit tested on the CPU, CUDA's grid limits and the
//!   kernels' 32-bit indices included.
//! - `kernels.rs` (`cuda`): the `#[cube]` kernels; past about 400 lines
//!   `kernels/forward.rs` and `kernels/backward.rs`, the device helpers
//!   both share in `kernels/mod.rs`.
//! - `autodiff.rs`: `impl <Op>Ops for Autodiff`, the backward node that
//!   calls the trait's backward (an empty impl for an op that is not
//!   differentiated: adamw).
//! - `tests.rs`: the op's CPU tests, where they outgrow a `mod tests` at the
//!   end of `mod.rs` (scan2d).
//!
//! A role an op does not need has no file: no `reference.rs` where the
//! trait's defaults are single burn calls (matmul) or the reference lives
//! outside the crate (selective_scan: mamba_ssm's golden cases); no
//! `plan.rs` where a launch is one grid over elements or rows, a few lines
//! of `cube.rs`; no `plan.rs` or `kernels.rs` where the GPU runs a library
//! (spectral: cuFFT).
//!
//! Op-specific helpers are allowed beside these, named for what they are:
//! `ssd/chunked.rs` (SSD's chunked algorithm in tensor ops),
//! `diagonal_kernel/discretize.rs` (one mode's discretisation in scalar
//! arithmetic), `matmul/complex.rs` (complex products). What several ops
//! share lives in `support/` (entry checks, CPU precision and host
//! helpers, CubeCL launch helpers, the kernels' 32-bit index limit);
//! `cuda_libs/` holds only the bindings to cuBLAS, cuFFT and NCCL (the
//! last used by `train`'s data-parallel transport, not by an op).

pub mod adamw;
pub mod cauchy;
pub mod causal_conv1d;
pub mod cross_entropy;
#[cfg(feature = "cuda")]
pub(crate) mod cuda_libs;
pub mod diagonal_kernel;
pub mod diagonal_scan;
pub mod dplr_spectrum;
pub mod embedding;
pub mod fft_conv;
pub mod gelu;
pub mod glu;
pub mod matmul;
pub mod norm;
pub mod prefix_sum;
pub mod rotary;
pub mod scan2d;
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
pub use diagonal_scan::{DiagonalScanOps, diagonal_scan};
pub use dplr_spectrum::{DplrSpectrumOps, dplr_spectrum};
pub use embedding::{EmbeddingOps, embedding};
pub use fft_conv::{FftConvOps, causal_conv, two_sided_conv};
pub use gelu::{GeluOps, gelu};
pub use glu::{GluOps, glu};
pub use matmul::{MatmulOps, add_bias, matmul, scale_columns};
pub use norm::{NormKind, NormOps, batch_norm, norm};
pub use prefix_sum::{PrefixSumOps, prefix_sum};
pub use rotary::{RotaryOps, RotaryPairs, rotary};
pub use scan2d::{Scan2d, Scan2dOps, scan2d};
pub use selective_scan::{SelectiveScan, SelectiveScanOps, SequenceStarts, selective_scan};
pub use spectral::{SpectralOps, irfft, rfft};
pub use ssd::{Ssd, SsdOps, SsdProblem, ssd, ssd_chunked};
#[cfg(feature = "cuda")]
pub use support::launch_metadata::apply_launch_metadata;
pub use support::launch_metadata::{LAUNCH_METADATA_ENV, LaunchMetadata, parse_launch_metadata};
pub use support::memory_pools::{
    MEMORY_POOLS_ENV, MemoryPoolLayout, PoolMemory, parse_memory_pools, size_classes,
};
#[cfg(feature = "cuda")]
pub use support::memory_pools::{apply_memory_pools, pool_memory};
#[cfg(feature = "cuda")]
pub use support::occupancy::apply_occupancy_overrides;
pub use support::occupancy::{OCCUPANCY_ENV, OccupancyOverride};
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
    + GluOps
    + PrefixSumOps
    + RotaryOps
    + DiagonalScanOps
    + Scan2dOps
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
        + GeluOps
        + GluOps
        + PrefixSumOps
        + RotaryOps
        + DiagonalScanOps
        + Scan2dOps,
> SsmBackend for B
{
}
