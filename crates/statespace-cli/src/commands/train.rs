//! `ssm train`: train a deep SSM classifier on a task, with a progress bar,
//! a run folder (config, metrics, plots, checkpoints) and resumption.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::backend::Autodiff;
use indicatif::{ProgressBar, ProgressStyle};
use plotters::style::RGBColor;
use statespace::train::run::read_metrics;
use statespace::train::{MetricRow, Observer, RunDir, TrainConfig, train};

use crate::device::{DeviceKind, with_backend};
use crate::plot::{Series, line_chart};

/// The embedded default run.
pub const DEFAULT_CONFIG: &str = include_str!("../../../../configs/default.toml");

/// Arguments of `ssm train`.
#[derive(clap::Args)]
pub struct Args {
    /// Run configuration (TOML); the embedded default when absent.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Override a config value, e.g. `--set model.d_model=128` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Run name: the run is written to runs/<name>.
    #[arg(long)]
    name: Option<String>,
    /// Folder that holds runs.
    #[arg(long, default_value = "runs")]
    runs: PathBuf,
    /// Continue the run in this folder from its last checkpoint.
    #[arg(long, value_name = "RUN_DIR")]
    resume: Option<PathBuf>,
    /// Device to run on.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceKind,
}

struct Bar {
    bar: ProgressBar,
    started: Instant,
    first_step: Option<u64>,
    loss: f64,
    accuracy: f64,
}

impl Observer for Bar {
    fn step(&mut self, step: u64, total: u64, loss: f64, accuracy: f64) {
        let first = *self.first_step.get_or_insert(step);
        // Exponential moving averages keep the display readable.
        let a = if step == first { 1.0 } else { 0.05 };
        self.loss = (1.0 - a) * self.loss + a * loss;
        self.accuracy = (1.0 - a) * self.accuracy + a * accuracy;
        let rate = (step - first + 1) as f64 / self.started.elapsed().as_secs_f64().max(1e-9);
        self.bar.set_length(total);
        self.bar.set_position(step);
        self.bar.set_message(format!(
            "loss {:.4}  acc {:.3}  {:.2} steps/s",
            self.loss, self.accuracy, rate
        ));
    }

    fn eval(&mut self, row: &MetricRow) {
        if row.split != "train" {
            self.bar.println(format!(
                "step {:>6}  {:<5} loss {:.4}  accuracy {:.4}",
                row.step, row.split, row.loss, row.accuracy
            ));
        }
    }
}

/// Loss and accuracy curves of a run as PNG files beside its metrics.
pub fn plot_curves(dir: &Path, rows: &[MetricRow]) -> Result<()> {
    let series = |split: &str, value: fn(&MetricRow) -> f64| -> Vec<(f64, f64)> {
        rows.iter()
            .filter(|r| r.split == split)
            .map(|r| (r.step as f64, value(r)))
            .collect()
    };
    let colors = [
        ("train", RGBColor(40, 90, 200)),
        ("val", RGBColor(220, 60, 40)),
    ];
    for (file, title, value) in [
        (
            "loss.png",
            "cross-entropy",
            (|r: &MetricRow| r.loss) as fn(&MetricRow) -> f64,
        ),
        ("accuracy.png", "accuracy", |r: &MetricRow| r.accuracy),
    ] {
        let lines: Vec<Series<'_>> = colors
            .iter()
            .map(|(split, color)| Series {
                label: split,
                points: series(split, value),
                color: *color,
            })
            .filter(|s| !s.points.is_empty())
            .collect();
        if !lines.is_empty() {
            line_chart(&dir.join(file), title, "step", title, &lines)?;
        }
    }
    Ok(())
}

/// Runs `ssm train`.
pub fn run(args: Args) -> Result<()> {
    let (config, run_dir, resume) = match &args.resume {
        Some(dir) => {
            if args.config.is_some() || !args.overrides.is_empty() {
                bail!("--resume continues a run with its own config.toml: drop --config and --set");
            }
            let path = dir.join("config.toml");
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?;
            (
                TrainConfig::from_toml(&text, &[])?,
                RunDir::new(dir.clone()),
                true,
            )
        }
        None => {
            let text = match &args.config {
                Some(p) => std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?,
                None => DEFAULT_CONFIG.to_string(),
            };
            let config = TrainConfig::from_toml(&text, &args.overrides).with_context(|| {
                format!(
                    "in {}",
                    args.config
                        .as_deref()
                        .map_or("the default config".into(), |p| p.display().to_string())
                )
            })?;
            let name = args.name.clone().unwrap_or_else(|| {
                let stamp = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                format!("run-{stamp}")
            });
            let dir = args.runs.join(&name);
            if dir.join("config.toml").exists() {
                bail!(
                    "{} already holds a run: choose another --name or --resume it",
                    dir.display()
                );
            }
            (config, RunDir::new(dir), false)
        }
    };
    println!("run folder: {}", run_dir.dir.display());
    let bar = ProgressBar::new(config.schedule.steps);
    bar.set_style(
        ProgressStyle::with_template(
            "{bar:30.cyan/blue} {pos}/{len} [{elapsed_precise} < {eta_precise}] {msg}",
        )
        .expect("valid template"),
    );
    let mut observer = Bar {
        bar,
        started: Instant::now(),
        first_step: None,
        loss: 0.0,
        accuracy: 0.0,
    };
    let summary = with_backend!(args.device, |B, device| {
        train::<Autodiff<B>>(&config, &run_dir, resume, &device, &mut observer)
            .map_err(anyhow::Error::from)
    })?;
    observer.bar.finish_and_clear();
    plot_curves(&run_dir.dir, &read_metrics(&run_dir.metrics())?)?;
    println!(
        "trained {} steps in {:.0} s; best validation accuracy {:.4}",
        summary.steps, summary.seconds, summary.best_val_accuracy
    );
    println!(
        "test accuracy {:.4} (loss {:.4})",
        summary.test_accuracy, summary.test_loss
    );
    Ok(())
}
