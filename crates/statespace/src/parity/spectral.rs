//! Parity of the real FFTs (`rfft`, `irfft`) at odd, even and power-of-two
//! sizes, in f32 and f64.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, Tensor};

use super::harness::{Cx, Draw, Results, host, outputs_and_grads, tolerance_for, versus_cpu};
use crate::error::Result;
use crate::ops::{SsmBackend, irfft, rfft};

/// rfft of a signal and irfft of a spectrum, both of length `n`, in one
/// output row-wise: (rows, 2·(n/2 + 1) + n), all in `dtype`.
fn run_spectral<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 4],
    n: usize,
    dtype: DType,
    device: &B::Device,
) -> Result<Results> {
    let x = draws[0].tensor::<B, 2>(device, dtype);
    let spec_re = draws[1].tensor::<B, 2>(device, dtype);
    let spec_im = draws[2].tensor::<B, 2>(device, dtype);
    let (re, im) = rfft(x.clone(), n)?;
    let y = irfft(spec_re.clone(), spec_im.clone(), n)?;
    // Each output compared on its own scale (the spectrum is ~n times the
    // signal's): one loss drives every gradient.
    let parts = [
        ("rfft_re", host(&re)),
        ("rfft_im", host(&im)),
        ("irfft", host(&y)),
    ];
    let out = Tensor::cat(vec![re, im, y], 1);
    let mut results = outputs_and_grads(
        out,
        &draws[3],
        &[
            ("grad_signal", &x),
            ("grad_spectrum_re", &spec_re),
            ("grad_spectrum_im", &spec_im),
        ],
        device,
    );
    results.splice(0..1, parts);
    Ok(results)
}

/// The real FFTs (`rfft`, `irfft`) in f32 at odd, even and power-of-two
/// sizes.
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    // (signal length, spectrum bins, n): odd, even and power-of-two n,
    // signals and spectra shorter and longer than the transform.
    let shapes = [
        (7, 4, 7),
        (10, 6, 12),
        (40, 30, 30),
        (16, 9, 16),
        (5, 3, 1),
        (1000, 600, 1024),
        (3000, 1600, 3000),
    ];
    checks_in(cx, &shapes, 2, DType::F32)
}

/// The real FFTs in f64 (S4's DPLR kernel's inverse transform and its
/// gradient): odd and even n, with more rows than the f32 shapes so that
/// the batched plans are exercised. Drawn after the other families.
pub(super) fn f64_checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    let shapes = [
        (7, 4, 7),
        (10, 6, 12),
        (5, 3, 1),
        (2000, 1001, 2000),
        (1999, 1000, 1999),
    ];
    checks_in(cx, &shapes, 5, DType::F64)
}

/// rfft/irfft checks of `rows` rows at each (signal length, spectrum bins,
/// n) of `shapes`, in `dtype`.
fn checks_in<B: AutodiffBackend + SsmBackend>(
    cx: &mut Cx<'_, B>,
    shapes: &[(usize, usize, usize)],
    rows: usize,
    dtype: DType,
) -> Result<()> {
    for &(m, bins, n) in shapes {
        let draws = [
            cx.draw(&[rows, m]),
            cx.draw(&[rows, bins]),
            cx.draw(&[rows, bins]),
            cx.draw(&[rows, 2 * (n / 2 + 1) + n]),
        ];
        let suffix = if dtype == DType::F64 { " f64" } else { "" };
        versus_cpu!(
            cx,
            format!("rfft/irfft m{m} bins{bins} n{n}{suffix}"),
            run_spectral::<B>(&draws, n, dtype),
            within tolerance_for(dtype)
        );
    }
    Ok(())
}
