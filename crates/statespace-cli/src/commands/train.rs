//! `ssm train`: train a deep SSM classifier or forecaster on a task, with a
//! progress bar, a run folder (config, metrics, plots, checkpoints) and
//! resumption.

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::backend::Autodiff;
use indicatif::{ProgressBar, ProgressStyle};
use plotters::style::RGBColor;
use statespace::models::Precision;
use statespace::ops::PoolMemory;
use statespace::train::ranks::Transport;
use statespace::train::run::read_metrics;
use statespace::train::{MetricRow, Observer, Parallelism, RunDir, TrainConfig, train_parallel};

use super::train_time_limit::TimeLimit;
use crate::device::{DeviceKind, MemoryReport, RankDevices, with_backend};
use crate::host_profile::HostProfile;
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
    /// Stop at the first checkpoint (evaluation) after this many minutes,
    /// for machines lent for a limited time: `--resume` continues the run
    /// exactly (bench/peers/train/run_segment.sh carries it between
    /// device commands). The run can end up to one evaluation interval
    /// past the limit.
    #[arg(long, value_name = "MINUTES", conflicts_with = "stop_before")]
    stop_after: Option<f64>,
    /// Stop at the last checkpoint before this many minutes have passed,
    /// for jobs killed at a wall-clock limit: at each checkpoint the next
    /// is expected as long after it as it came after the previous one, and
    /// the run stops where that would pass the limit.
    #[arg(long, value_name = "MINUTES", conflicts_with = "stop_at")]
    stop_before: Option<f64>,
    /// Stop after the first step that ends past this many minutes, writing
    /// the last checkpoint there even between evaluations: the tightest
    /// stop for a wall-clock limit (a step and a checkpoint's write past
    /// it). `--resume` continues exactly; the train row of the evaluation
    /// after the resume covers only the steps since it. With several
    /// `--devices`, it stops at the first evaluation past the limit instead.
    #[arg(long, value_name = "MINUTES", conflicts_with = "stop_after")]
    stop_at: Option<f64>,
    /// Parallel ranks, each on its equal part of every step (`--split`):
    /// GPUs 0..N with `--device cuda`, gradients summed through host memory
    /// (NCCL is not used yet); N ranks sharing the cores with `--device cpu`,
    /// which checks the path but does not speed it up.
    #[arg(long, value_name = "N", value_parser = super::counts::at_least_one, default_value_t = 1)]
    devices: usize,
    /// How `--devices` ranks split a step: `batch` gives each a part of the
    /// batch (`schedule.batch_size` stays the global batch); `sequence`
    /// gives each a part of every sequence, the recurrent state passing
    /// from rank to rank (language models with a Mamba, Mamba-2, Mamba-3 or
    /// causal S5 mixer: long sequences whose activations do not fit one
    /// device).
    #[arg(long, value_enum, default_value = "batch")]
    split: Split,
    /// Writes a flamegraph (SVG) of the host's CPU time, every thread
    /// sampled, from the 20th step of this process to the end of the run
    /// (start-up and kernel compilation left out): where a loop bound by
    /// its host spends the time. Builds with the `host-profile` feature
    /// only.
    #[arg(long, value_name = "FILE")]
    host_profile: Option<PathBuf>,
}

/// Steps of a process that `--host-profile` leaves out before it starts
/// sampling (the first steps compile and tune the device's kernels).
const PROFILE_AFTER_STEPS: u64 = 20;

/// `--host-profile` over a run: off, waiting for its first step, sampling,
/// or failed to start (reported when the run ends; the run goes on).
enum Profiling {
    Off,
    Waiting(PathBuf),
    Running(HostProfile),
    Failed(anyhow::Error),
}

impl Profiling {
    /// Starts sampling once the process is `PROFILE_AFTER_STEPS` past its
    /// first step.
    fn on_step(&mut self, steps_done: u64) {
        if steps_done < PROFILE_AFTER_STEPS {
            return;
        }
        if let Profiling::Waiting(path) = self {
            *self = match HostProfile::start(path) {
                Ok(profile) => Profiling::Running(profile),
                Err(e) => Profiling::Failed(e),
            };
        }
    }

    /// Writes the flamegraph, or names why there is none.
    fn finish(self) -> Result<()> {
        match self {
            Profiling::Off => Ok(()),
            Profiling::Waiting(path) => bail!(
                "--host-profile {}: the run ended within {PROFILE_AFTER_STEPS} steps, before sampling began",
                path.display()
            ),
            Profiling::Running(profile) => profile.finish(),
            Profiling::Failed(e) => Err(e),
        }
    }
}

/// How ranks split a training step.
#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Split {
    /// Parts of the batch (data parallelism).
    Batch,
    /// Parts of every sequence (sequence parallelism).
    Sequence,
}

impl Split {
    /// The library's name for it.
    pub fn parallelism(self) -> Parallelism {
        match self {
            Split::Batch => Parallelism::Data,
            Split::Sequence => Parallelism::Sequence,
        }
    }
}

struct Bar {
    bar: ProgressBar,
    started: Instant,
    /// The first step of this process and when it ended.
    first_step: Option<(u64, Instant)>,
    columns: [&'static str; 2],
    /// Last step seen.
    last_step: u64,
    /// Whether a loss was shown yet.
    shown: bool,
    loss: f64,
    metric: f64,
    /// When `--stop-after` or `--stop-before` ends the run.
    limit: Option<TimeLimit>,
    /// `--host-profile`.
    profiling: Profiling,
    /// Reads the device's pool memory for the evaluation lines (a run of
    /// one device that keeps pools).
    pool_memory: Option<Box<dyn Fn() -> Option<PoolMemory>>>,
}

impl Bar {
    /// Training steps per second since the first step of this process
    /// ended (evaluations included, start-up and kernel compilation not).
    fn rate(&self, step: u64) -> f64 {
        match self.first_step {
            Some((first, at)) if step > first => {
                (step - first) as f64 / at.elapsed().as_secs_f64().max(1e-9)
            }
            _ => 0.0,
        }
    }
}

impl Observer for Bar {
    fn columns(&mut self, names: [&'static str; 2]) {
        self.columns = names;
    }

    fn step(&mut self, step: u64, total: u64, recent: Option<(f64, f64)>) {
        let (first, _) = *self.first_step.get_or_insert((step, Instant::now()));
        self.profiling.on_step(step.saturating_sub(first));
        if let Some((loss, metric)) = recent {
            // Exponential moving averages keep the display readable.
            let a = if self.shown { 0.2 } else { 1.0 };
            self.shown = true;
            self.loss = (1.0 - a) * self.loss + a * loss;
            self.metric = (1.0 - a) * self.metric + a * metric;
        }
        self.bar.set_length(total);
        self.bar.set_position(step);
        self.bar.set_message(format!(
            "{} {:.4}  {} {:.4}  {:.2} steps/s",
            self.columns[0],
            self.loss,
            self.columns[1],
            self.metric,
            self.rate(step)
        ));
        self.last_step = step;
    }

    fn eval(&mut self, row: &MetricRow) {
        if row.split != "train" {
            let memory =
                self.pool_memory
                    .as_ref()
                    .and_then(|read| read())
                    .map_or(String::new(), |m| {
                        format!(
                            ", memory {} in use of {} reserved",
                            gibibytes(m.in_use),
                            gibibytes(m.reserved)
                        )
                    });
            let line = format!(
                "step {:>6}  {:<5} {} {:.4}  {} {:.4}  ({:.0} s, {:.2} steps/s{memory})",
                row.step,
                row.split,
                self.columns[0],
                row.loss,
                self.columns[1],
                row.metric,
                self.started.elapsed().as_secs_f64(),
                self.rate(self.last_step)
            );
            // A hidden bar (output to a file or pipe) drops its printed
            // lines, and logs need the evaluations most.
            if self.bar.is_hidden() {
                println!("{line}");
            } else {
                self.bar.println(line);
            }
        }
    }

    fn should_stop(&self, _step: u64) -> bool {
        self.limit
            .as_ref()
            .is_some_and(|limit| limit.reached(Instant::now()))
    }

    fn stop_between(&self, _step: u64) -> bool {
        self.limit
            .as_ref()
            .is_some_and(|limit| limit.reached_between(Instant::now()))
    }
}

/// Bytes as GiB (2³⁰) with two decimals (nvidia-smi counts MiB, 2²⁰).
fn gibibytes(bytes: u64) -> String {
    format!("{:.2} GiB", bytes as f64 / (1u64 << 30) as f64)
}

/// The curves of a run's two metric columns (`columns`) as PNG files
/// beside its metrics: `loss.png` and `accuracy.png` for classification,
/// `mse.png` and `mae.png` for forecasting.
pub fn plot_curves(dir: &Path, columns: [&str; 2], rows: &[MetricRow]) -> Result<()> {
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
    let first_title = if columns[0] == "loss" {
        "cross-entropy"
    } else {
        columns[0]
    };
    for (name, title, value) in [
        (
            columns[0],
            first_title,
            (|r: &MetricRow| r.loss) as fn(&MetricRow) -> f64,
        ),
        (columns[1], columns[1], |r: &MetricRow| r.metric),
    ] {
        let file = format!("{name}.png");
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
            line_chart(&dir.join(&file), title, "step", title, &lines)?;
        }
    }
    Ok(())
}

/// Runs `ssm train`.
pub fn run(args: Args) -> Result<()> {
    if let Some(path) = &args.host_profile {
        HostProfile::check(path)?;
    }
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
    if args.device == DeviceKind::Cpu && config.optim.precision != Precision::F32 {
        eprintln!(
            "note: optim.precision = \"{}\" is for GPUs; on the CPU it trains slower than f32 (no 16-bit arithmetic there)",
            config.optim.precision.name()
        );
    }
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
        last_step: 0,
        shown: false,
        columns: ["loss", "metric"],
        loss: 0.0,
        metric: 0.0,
        limit: TimeLimit::from_minutes(
            args.stop_after,
            args.stop_before,
            args.stop_at,
            Instant::now(),
        )?,
        profiling: args
            .host_profile
            .clone()
            .map_or(Profiling::Off, Profiling::Waiting),
        pool_memory: None,
    };
    let result = with_backend!(args.device, |B, device| {
        let _ = device;
        let devices = <B as RankDevices>::rank_devices(args.devices)?;
        if devices.len() == 1 {
            let rank0 = devices.clone();
            observer.pool_memory = Some(Box::new(move || {
                <B as MemoryReport>::pool_memory(&rank0[0])
            }));
        }
        Ok::<_, anyhow::Error>(train_parallel::<Autodiff<B>>(
            &config,
            &run_dir,
            resume,
            &devices,
            args.split.parallelism(),
            &mut observer,
        ))
    })?;
    let profiling = std::mem::replace(&mut observer.profiling, Profiling::Off);
    let summary = match result {
        Err(statespace::error::Error::Interrupted { step }) => {
            observer.bar.finish_and_clear();
            profiling.finish()?;
            plot_curves(
                &run_dir.dir,
                observer.columns,
                &read_metrics(&run_dir.metrics())?,
            )?;
            let flag = observer
                .limit
                .as_ref()
                .map_or("--stop-after", TimeLimit::flag);
            println!(
                "stopped after step {step} ({flag}, at a checkpoint); continue with: ssm train --resume {}",
                run_dir.dir.display()
            );
            return Ok(());
        }
        other => other?,
    };
    observer.bar.finish_and_clear();
    profiling.finish()?;
    let [first, second] = summary.columns;
    plot_curves(
        &run_dir.dir,
        summary.columns,
        &read_metrics(&run_dir.metrics())?,
    )?;
    let ranks = match summary.transport {
        Transport::Solo => String::new(),
        transport => format!(
            " ({} ranks, gradients summed by {})",
            args.devices,
            transport.name()
        ),
    };
    println!(
        "trained {} steps in {:.0} s{ranks}; best validation (step {}): {first} {:.4}, {second} {:.4}",
        summary.steps,
        summary.seconds,
        summary.best_val.step,
        summary.best_val.loss,
        summary.best_val.metric
    );
    println!(
        "test {first} {:.4}, test {second} {:.4} (the best-validation checkpoint)",
        summary.test.loss, summary.test.metric
    );
    Ok(())
}
