//! `ssm selftest`: the golden reference cases on a chosen device.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use burn::backend::Autodiff;
use statespace::golden::{self, Check};

use crate::device::{DeviceKind, with_backend};

/// Arguments of `ssm selftest`.
#[derive(clap::Args)]
pub struct Args {
    /// Device to run on.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceKind,
    /// Golden folder (default: $SSM_GOLDEN_DIR, else ../shared/golden).
    #[arg(long)]
    golden: Option<PathBuf>,
}

/// Runs `ssm selftest`.
pub fn run(args: Args) -> Result<()> {
    let dir = args
        .golden
        .unwrap_or_else(|| golden::golden_dir(&std::env::current_dir().unwrap_or_default()));
    if !dir.is_dir() {
        bail!(
            "golden folder {} not found: pass --golden or set SSM_GOLDEN_DIR",
            dir.display()
        );
    }
    let manifest = golden::s4::read_manifest(&dir);
    let start = Instant::now();
    let checks: Vec<Check> = with_backend!(args.device, |B, device| {
        let mut checks = Vec::new();
        for (case, file) in golden::cases(&dir, "s4_fftconv_")? {
            checks.extend(golden::s4::check_forward_and_gradients::<Autodiff<B>>(
                &case,
                &file,
                manifest.as_ref(),
                &device,
            )?);
            checks.extend(golden::s4::check_recurrent::<B>(
                &case,
                &file,
                manifest.as_ref(),
                &device,
            )?);
        }
        Ok::<_, anyhow::Error>(checks)
    })?;
    for check in &checks {
        println!("{check}");
    }
    let failed = checks.iter().filter(|c| !c.passed()).count();
    println!(
        "{} passed, {} failed ({:?}, {:.1} s)",
        checks.len() - failed,
        failed,
        args.device,
        start.elapsed().as_secs_f64()
    );
    if failed > 0 {
        bail!("{failed} golden checks out of tolerance");
    }
    Ok(())
}
