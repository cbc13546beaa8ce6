//! `ssm selftest`: the golden reference cases on a chosen device, and on a
//! GPU the parity of its extension ops with the CPU's.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use burn::backend::Autodiff;
use burn::tensor::DType;
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
    /// Further case folders of the golden layout (manifest.json +
    /// `<case>.safetensors`), e.g. crates/statespace/tests/reference: their
    /// cases of the same families run too; a family may have none there.
    #[arg(long = "extra", value_name = "DIR")]
    extra: Vec<PathBuf>,
    /// Run only the cases whose names start with one of these prefixes
    /// (repeatable, e.g. `--only spacetime_`); the device parity checks
    /// are skipped then, unless `--parity` names some.
    #[arg(long = "only", value_name = "PREFIX")]
    only: Vec<String>,
    /// Run only these groups of the GPU's parity checks (repeatable); the
    /// golden cases are skipped then, unless `--only` names some.
    #[arg(long = "parity", value_enum, value_name = "GROUP")]
    parity: Vec<ParityGroup>,
}

/// The groups of device parity checks (against the CPU), as `--parity`
/// names them.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ParityGroup {
    SelectiveScan,
    Ssd,
    Ops,
    SequenceParallel,
    DataParallel,
    MixedPrecision,
    Decode,
    Nccl,
}

/// The cases of `prefix` in `set`: at least one in the golden folder
/// (`required`), any number in an extra folder; with `only`, those of its
/// prefixes alone (and none required).
fn cases_of(
    set: &golden::GoldenSet,
    prefix: &str,
    required: bool,
    only: &[String],
) -> statespace::Result<Vec<(String, statespace::io::SafetensorsFile)>> {
    let mut cases = if required && only.is_empty() {
        set.cases(prefix)?
    } else {
        set.cases_if_any(prefix)?
    };
    if !only.is_empty() {
        cases.retain(|(case, _)| only.iter().any(|o| case.starts_with(o.as_str())));
    }
    Ok(cases)
}

/// The golden folder and the extra case folders, each with its path and
/// whether every prefix must have a case in it (the golden folder only).
fn golden_sets(args: &Args) -> Result<Vec<(golden::GoldenSet, PathBuf, bool)>> {
    let dir = args
        .golden
        .clone()
        .unwrap_or_else(|| golden::golden_dir(&std::env::current_dir().unwrap_or_default()));
    if !dir.is_dir() {
        bail!(
            "golden folder {} not found: pass --golden or set SSM_GOLDEN_DIR",
            dir.display()
        );
    }
    let mut sets = vec![(golden::GoldenSet::open(&dir)?, dir, true)];
    for extra in &args.extra {
        sets.push((golden::GoldenSet::open(extra)?, extra.clone(), false));
    }
    Ok(sets)
}

/// Runs `ssm selftest`.
pub fn run(args: Args) -> Result<()> {
    let start = Instant::now();
    // f64 where the device computes it exactly (the CPU); f32 elsewhere.
    let (ssd_dtype, ssd_tolerance) = match args.device {
        DeviceKind::Cpu => (DType::F64, golden::ssd::TOLERANCE_F64),
        DeviceKind::Cuda => (DType::F32, golden::selective_scan::TOLERANCE),
    };
    // Each case's checks are printed as soon as it is done.
    let emit = |checks: &mut Vec<Check>, new: Vec<Check>| {
        for check in &new {
            println!("{check}  [{:.1} s]", start.elapsed().as_secs_f64());
        }
        checks.extend(new);
    };
    if !args.parity.is_empty() && args.device == DeviceKind::Cpu {
        bail!("--parity compares a GPU with the CPU: pass --device cuda");
    }
    let golden_cases = args.parity.is_empty() || !args.only.is_empty();
    let parity = |group: ParityGroup| {
        args.device != DeviceKind::Cpu
            && (args.only.is_empty() || !args.parity.is_empty())
            && (args.parity.is_empty() || args.parity.contains(&group))
    };
    // `--parity` alone compares the GPU with the CPU and reads no golden
    // file, so it needs no golden folder.
    let sets = if golden_cases {
        golden_sets(&args)?
    } else {
        Vec::new()
    };
    let checks: Vec<Check> = with_backend!(args.device, |B, device| {
        let mut checks = Vec::new();
        // A launch the device dropped (statespace::parity::device_ok) fails
        // the run before the checks that read its unwritten outputs print.
        let emit = |checks: &mut Vec<Check>, new: Vec<Check>| -> Result<()> {
            statespace::parity::device_ok::<B>(&device)?;
            emit(checks, new);
            Ok(())
        };
        for (set, dir, required) in &sets {
            let (dir, required) = (dir.as_path(), *required);
            let manifest = set.manifest().cloned();
            let mut s4_cases = cases_of(set, "s4_fftconv_", required, &args.only)?;
            s4_cases.extend(cases_of(set, "s4_f64_fftconv_", false, &args.only)?);
            for (case, file) in s4_cases {
                let m = manifest.as_ref();
                emit(
                    &mut checks,
                    golden::s4::check_forward_and_gradients::<Autodiff<B>>(
                        &case, &file, m, &device,
                    )?,
                )?;
                emit(
                    &mut checks,
                    golden::s4::check_recurrent::<B>(&case, &file, m, &device)?,
                )?;
            }
            for (case, file) in cases_of(set, "selective_scan_", required, &args.only)? {
                let m = manifest.as_ref();
                emit(
                    &mut checks,
                    golden::selective_scan::check_case::<Autodiff<B>>(&case, &file, m, &device)?,
                )?;
            }
            for (case, file) in cases_of(set, "ssd_", required, &args.only)? {
                let chunk = manifest
                    .as_ref()
                    .and_then(|m| m.get(&case)?.get("block_len_used")?.as_u64())
                    .unwrap_or(16) as usize;
                for chunked in [false, true] {
                    emit(
                        &mut checks,
                        golden::ssd::check_case::<Autodiff<B>>(
                            &case,
                            &file,
                            chunk,
                            chunked,
                            ssd_dtype,
                            ssd_tolerance,
                            &device,
                        )?,
                    )?;
                }
            }
            // Whole layers (float64 cases): f64 on the CPU, f32 on a GPU.
            let layer_dtype = match args.device {
                DeviceKind::Cpu => DType::F64,
                DeviceKind::Cuda => DType::F32,
            };
            let layer_tolerance = golden::layer::tolerance_for(layer_dtype);
            let layers: [(&str, golden::layer::LayerCheck<Autodiff<B>>); 8] = [
                ("hydra_", golden::hydra::check_case::<Autodiff<B>>),
                ("mamba3_", golden::mamba3::check_case::<Autodiff<B>>),
                ("longconv_", golden::long_conv::check_case::<Autodiff<B>>),
                ("hyena_", golden::hyena::check_case::<Autodiff<B>>),
                ("h3_", golden::h3::check_case::<Autodiff<B>>),
                ("s5_ssm_", golden::s5::check_ssm_case::<Autodiff<B>>),
                ("s5_layer_", golden::s5::check_layer_case::<Autodiff<B>>),
                ("spacetime_", golden::spacetime::check_case::<Autodiff<B>>),
            ];
            for (prefix, check) in layers {
                for (case, file) in cases_of(set, prefix, required, &args.only)? {
                    let new = check(
                        &case,
                        &file,
                        manifest.as_ref(),
                        layer_dtype,
                        layer_tolerance,
                        &device,
                    )?;
                    emit(&mut checks, new)?;
                }
            }
            for (case, file) in cases_of(set, "hf_mamba", required, &args.only)? {
                emit(
                    &mut checks,
                    golden::lm::check_case::<B>(dir, &case, &file, &device)?,
                )?;
            }
        }
        if parity(ParityGroup::SelectiveScan) {
            emit(
                &mut checks,
                statespace::parity::selective_scan_checks::<Autodiff<B>>(
                    &statespace::parity::scan_cases(),
                    &device,
                )?,
            )?;
        }
        if parity(ParityGroup::Ssd) {
            emit(
                &mut checks,
                statespace::parity::ssd_checks::<Autodiff<B>>(
                    &statespace::parity::ssd_cases(),
                    &device,
                )?,
            )?;
        }
        if parity(ParityGroup::Ops) {
            emit(
                &mut checks,
                statespace::parity::op_checks::<Autodiff<B>>(&device)?,
            )?;
            emit(
                &mut checks,
                statespace::parity::tf32_checks::<Autodiff<B>>(&device)?,
            )?;
        }
        if parity(ParityGroup::SequenceParallel) {
            emit(
                &mut checks,
                statespace::parity::carried_step_checks::<Autodiff<B>>(&device)?,
            )?;
            emit(
                &mut checks,
                statespace::parity::sequence_parallel_checks::<Autodiff<B>>(&device)?,
            )?;
        }
        if parity(ParityGroup::DataParallel) {
            emit(
                &mut checks,
                statespace::parity::data_parallel_checks::<Autodiff<B>>(&device)?,
            )?;
        }
        if parity(ParityGroup::MixedPrecision) {
            emit(
                &mut checks,
                statespace::parity::mixed_precision_checks::<Autodiff<B>>(&device)?,
            )?;
        }
        #[cfg(feature = "cuda")]
        if parity(ParityGroup::Decode) {
            emit(
                &mut checks,
                statespace::parity::gpu_decode_checks::<B>(&device)?,
            )?;
        }
        #[cfg(feature = "cuda")]
        if parity(ParityGroup::Nccl) {
            emit(&mut checks, statespace::parity::nccl_checks::<B>(&device)?)?;
        }
        Ok::<_, anyhow::Error>(checks)
    })?;
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
