//! `ssm hippo`: online function approximation with a HiPPO operator.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use plotters::style::RGBColor;
use statespace::hippo::Measure;
use statespace::hippo::online::{parse_signal, project, relative_error};

use crate::plot::{Series, line_chart};

/// Arguments of `ssm hippo`.
#[derive(clap::Args)]
pub struct Args {
    /// HiPPO measure: legs, legt, lagt or fout.
    #[arg(long, default_value = "legs")]
    measure: String,
    /// State size N (number of basis functions).
    #[arg(long, value_parser = super::counts::at_least_one, default_value_t = 64)]
    n: usize,
    /// CSV file with one sample per line (the last column is used; a header
    /// line is skipped). Without it a built-in signal is used.
    #[arg(long)]
    input: Option<PathBuf>,
    /// Length of the built-in signal.
    #[arg(long, default_value_t = 1000)]
    length: usize,
    /// Sliding-window length as a fraction of the signal (legt, lagt, fout).
    #[arg(long, default_value_t = 1.0)]
    window: f64,
    /// Where to write the plot (PNG).
    #[arg(long)]
    output: Option<PathBuf>,
}

/// A smooth, non-periodic test signal on [0, 1]: a few incommensurate
/// sinusoids under a slow envelope.
pub fn builtin_signal(len: usize) -> Vec<f64> {
    (0..len)
        .map(|k| {
            let t = (k as f64 + 1.0) / len as f64;
            let envelope = 0.6 + 0.4 * (2.0 * t).cos();
            envelope
                * ((7.0 * t).sin() + 0.5 * (23.0 * t + 1.0).sin() + 0.25 * (41.0 * t + 2.0).cos())
                + 0.3 * t
        })
        .collect()
}

/// Reads samples from a CSV file (see [`parse_signal`]).
pub fn read_signal(path: &Path) -> Result<Vec<f64>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(parse_signal(&text, &path.display().to_string())?)
}

/// Runs `ssm hippo`.
pub fn run(args: Args) -> Result<()> {
    let measure: Measure = args.measure.parse()?;
    let signal = match &args.input {
        Some(path) => read_signal(path)?,
        None => {
            if args.length < 2 {
                bail!("--length must be at least 2");
            }
            builtin_signal(args.length)
        }
    };
    let projection = project(measure, args.n, &signal, args.window)?;
    let len = signal.len();
    let recon = projection.reconstruct(len.min(4000));
    let error = relative_error(&signal, projection.window, &recon);

    let span = ((projection.window * len as f64).round() as usize).clamp(1, len);
    let start = len - span;
    let original: Vec<(f64, f64)> = signal
        .iter()
        .enumerate()
        .map(|(i, &v)| (i as f64, v))
        .collect();
    let reconstructed: Vec<(f64, f64)> = recon
        .iter()
        .enumerate()
        .map(|(j, &v)| {
            (
                start as f64 + (j as f64 + 0.5) / recon.len() as f64 * span as f64 - 0.5,
                v,
            )
        })
        .collect();
    let output = args
        .output
        .unwrap_or_else(|| PathBuf::from(format!("hippo_{}_N{}.png", measure.name(), args.n)));
    line_chart(
        &output,
        &format!(
            "HiPPO-{} online approximation, N = {} (relative L2 error {:.2e})",
            measure.name(),
            args.n,
            error
        ),
        "sample",
        "value",
        &[
            Series {
                label: "signal",
                points: original,
                color: RGBColor(40, 40, 40),
            },
            Series {
                label: "reconstruction",
                points: reconstructed,
                color: RGBColor(220, 60, 40),
            },
        ],
    )?;
    println!(
        "measure {}, N = {}, {} samples, window {}: relative L2 error {:.4e}",
        measure.name(),
        args.n,
        len,
        projection.window,
        error
    );
    println!("plot written to {}", output.display());
    Ok(())
}
