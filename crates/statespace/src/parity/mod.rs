//! Op parity: a backend's extension ops (forward and autodiff backward)
//! against the CPU implementation, on random inputs of shapes chosen to hit
//! the edges of the GPU kernels (odd lengths, L = 1, grouped B/C, small and
//! large state sizes, every optional input, bf16 activations).
//!
//! The CPU reference gets the same values the device gets (bf16 inputs are
//! rounded first) and computes in f32; errors are norm-relative, as in
//! [`crate::golden`]. One file per op family, mirroring `ops/`; the
//! shared draws and comparisons are in `harness`.

use burn::tensor::backend::{AutodiffBackend, Backend};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, Normal};

use crate::error::{Error, Result};
use crate::golden::Check;
use crate::ops::{AdamWOps, SsmBackend};
use harness::{Cx, Draw};

mod adamw;
mod carried_step;
mod cauchy;
mod causal_conv1d;
mod cross_entropy;
mod data_parallel;
#[cfg(feature = "cuda")]
mod decode;
mod diagonal_kernel;
mod diagonal_scan;
mod dplr_spectrum;
mod embedding;
mod fft_conv;
mod gelu;
mod glu;
mod harness;
mod layout;
mod matmul;
mod mixed_precision;
#[cfg(feature = "cuda")]
mod nccl;
mod norm;
mod prefix_sum;
mod rotary;
mod scan2d;
mod selective_scan;
mod sequence_parallel;
mod spectral;
mod ssd;
mod vandermonde;

pub use carried_step::carried_step_checks;
pub use data_parallel::data_parallel_checks;
#[cfg(feature = "cuda")]
pub use decode::gpu_decode_checks;
pub use mixed_precision::{TOLERANCE_MIXED, mixed_precision_checks};
#[cfg(feature = "cuda")]
pub use nccl::nccl_checks;
pub use selective_scan::{ScanCase, scan_cases, selective_scan_checks};
pub use sequence_parallel::sequence_parallel_checks;
pub use ssd::{SsdCase, ssd_cases, ssd_checks};

/// Tolerance of f32 ops against the CPU.
pub const TOLERANCE_F32: f64 = 1e-5;
/// Tolerance of f64 ops against the CPU's f64: three orders of magnitude
/// below f32's rounding, so an f64 op that loses precision on the way (an
/// f32 pass, a narrowed buffer) fails.
pub const TOLERANCE_F64: f64 = 1e-10;
/// Tolerance of bf16-stored results (8 significant bits) against the CPU.
pub const TOLERANCE_BF16: f64 = 1e-2;

/// Waits for `device` and fails with its message if a launch on it failed
/// since the last call: an error CubeCL queued on the stream instead of
/// returning it (a kernel NVRTC did not compile, a launch CUDA refused), or
/// a panic its device thread caught and only logged (a kernel that panicked
/// while being built; [`crate::faults`]). Either way no kernel wrote the
/// outputs, and checks read back whatever their buffers held: the first
/// fused FFT-convolution build (2026-12-07) failed its checks with relative
/// errors of exactly 1 and 10⁷, and nothing said why. `ssm selftest` calls
/// it after every batch of checks, golden and parity alike.
pub fn device_ok<B: Backend>(device: &B::Device) -> Result<()> {
    B::sync(device).map_err(|e| Error::DeviceLaunch {
        message: e.to_string(),
    })?;
    let caught = crate::faults::take();
    if caught.is_empty() {
        Ok(())
    } else {
        Err(Error::DeviceLaunch {
            message: format!(
                "a task panicked on the device's thread: {}",
                caught.join("; ")
            ),
        })
    }
}

/// Every op but the scans (see [`selective_scan_checks`], [`ssd_checks`])
/// on backend `B` against the CPU, in f32, at odd lengths, L = 1 and
/// degenerate shapes: one check per output and gradient. The families run
/// in a fixed order from one seeded stream of draws.
pub fn op_checks<B: AutodiffBackend + SsmBackend>(device: &B::Device) -> Result<Vec<Check>>
where
    B::InnerBackend: AdamWOps,
{
    seeded_checks(device, (7, 11), op_families::<B>)
}

/// The families of [`op_checks`], in their order.
fn op_families<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()>
where
    B::InnerBackend: AdamWOps,
{
    fft_conv::checks::<B>(cx)?;
    vandermonde::checks::<B>(cx)?;
    diagonal_kernel::checks::<B>(cx)?;
    cauchy::checks::<B>(cx)?;
    gelu::checks::<B>(cx)?;
    glu::checks::<B>(cx)?;
    spectral::checks::<B>(cx)?;
    matmul::checks::<B>(cx)?;
    causal_conv1d::checks::<B>(cx)?;
    embedding::checks::<B>(cx)?;
    norm::checks::<B>(cx)?;
    prefix_sum::checks::<B>(cx)?;
    rotary::checks::<B>(cx)?;
    cross_entropy::checks::<B>(cx)?;
    adamw::checks::<B>(cx)?;
    diagonal_scan::checks::<B>(cx)?;
    scan2d::checks::<B>(cx)?;
    layout::checks::<B>(cx)?;
    // Drawn last, so that the families above keep their draws.
    causal_conv1d::half_checks::<B>(cx)?;
    norm::half_checks::<B>(cx)?;
    cross_entropy::half_checks::<B>(cx)?;
    norm::batch_checks::<B>(cx)?;
    dplr_spectrum::checks::<B>(cx)?;
    spectral::f64_checks::<B>(cx)?;
    Ok(())
}

/// f32 products on a GPU's TF32 tensor cores (`ops::matmul::allow_tf32`)
/// against the CPU's f32, and a control that the setting moves them (see
/// `matmul::tf32_checks`); a draw stream of its own. For GPUs only: the CPU
/// ignores the setting, so there the control fails.
pub fn tf32_checks<B: AutodiffBackend + SsmBackend>(device: &B::Device) -> Result<Vec<Check>> {
    seeded_checks(device, (13, 17), matmul::tf32_checks::<B>)
}

/// The checks that `families` add, drawing from standard normals seeded
/// with `seeds.0` and tokens seeded with `seeds.1`.
fn seeded_checks<B: AutodiffBackend>(
    device: &B::Device,
    seeds: (u64, u64),
    families: impl FnOnce(&mut Cx<'_, B>) -> Result<()>,
) -> Result<Vec<Check>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seeds.0);
    let mut rng_tokens = ChaCha8Rng::seed_from_u64(seeds.1);
    let normal = Normal::new(0.0f32, 1.0).expect("valid normal");
    let mut draw = |shape: &[usize]| Draw::new(&mut rng, shape, |r| normal.sample(r));
    let mut checks = Vec::new();
    families(&mut Cx {
        draws: &mut draw,
        tokens: &mut rng_tokens,
        device,
        checks: &mut checks,
    })?;
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use burn::backend::Autodiff;
    use burn::tensor::DType;
    use burn_flex::Flex;

    use super::*;

    /// The harness itself: the CPU against the CPU is exact, and the CPU's
    /// f32 results stay within the conditioned checks' fixed ceilings of f64
    /// (and its 16-bit ones within their tolerance of f32: " vs f32").
    #[test]
    fn cpu_ops_match_themselves() {
        let checks = op_checks::<Autodiff<Flex>>(&Default::default()).unwrap();
        assert!(checks.len() > 30);
        for check in checks {
            if check.what.contains(" vs f64") || check.what.contains(" vs f32") {
                assert!(check.passed(), "{check}");
            } else {
                assert_eq!(check.error, 0.0, "{check}");
            }
        }
    }

    /// The CPU ignores TF32: its products stay exact, so the comparisons
    /// hold at zero error and only the control (which asks for a
    /// difference) fails.
    #[test]
    fn cpu_ignores_tf32() {
        let _lock = crate::ops::matmul::precision::TEST_LOCK
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let checks = tf32_checks::<Autodiff<Flex>>(&Default::default()).unwrap();
        assert_eq!(checks.len(), 7);
        for check in checks {
            let control = check.what.contains("differs from f32");
            assert_eq!(check.passed(), !control, "{check}");
            if !control {
                assert_eq!(check.error, 0.0, "{check}");
            }
        }
    }

    #[test]
    fn cpu_scan_matches_itself() {
        let cases: Vec<_> = scan_cases()
            .into_iter()
            .filter(|c| c.dtype == DType::F32)
            .collect();
        let checks = selective_scan_checks::<Autodiff<Flex>>(&cases, &Default::default()).unwrap();
        assert!(checks.len() > 40);
        for check in checks {
            assert_eq!(check.error, 0.0, "{check}");
        }
    }
}
