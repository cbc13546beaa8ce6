//! The training loop: steps of AdamW on an [`Objective`]'s model, periodic
//! validation, the best and last checkpoints, a metrics CSV, optional early
//! stopping, and resumption from the last checkpoint with the same data
//! order and randomness.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use burn::module::AutodiffModule;
use burn::tensor::backend::AutodiffBackend;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::checkpoint;
use super::classify::Classification;
use super::collective::Collective;
use super::config::TrainConfig;
use super::data_parallel::{all_reduce_grads, broadcast_params};
use super::forecast::Forecasting;
use super::lm::LanguageModeling;
use super::objective::{Goal, Objective, Parallelism, PendingTally, Shard, Tally};
use super::optim::{AdamW, step};
use super::ranks::{Transport, on_ranks};
use super::schedule::CosineWithWarmup;
use crate::error::{Error, Result};
use crate::host_pool::{OwnPool, on_own_pool_if};
use crate::io::write_atomic;
use crate::ops::SsmBackend;
use crate::ops::matmul::allow_tf32;
use crate::tasks::{Split, TaskConfig};

/// One row of the metrics CSV: `step,split,<loss>,<metric>,lr_scale`, the
/// two middle columns named by the task (`loss,accuracy` for
/// classification, `mse,mae` for forecasting).
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    /// Optimiser step.
    pub step: u64,
    /// `train`, `val` or `test`.
    pub split: String,
    /// The first column: mean cross-entropy, or mean squared error.
    pub loss: f64,
    /// The second column: accuracy in [0, 1], or mean absolute error.
    pub metric: f64,
    /// Learning-rate multiplier of the schedule.
    pub lr_scale: f64,
}

impl MetricRow {
    fn header(columns: [&str; 2]) -> String {
        format!("step,split,{},{},lr_scale", columns[0], columns[1])
    }

    fn to_csv(&self) -> String {
        format!(
            "{},{},{:.6},{:.6},{:.6}",
            self.step, self.split, self.loss, self.metric, self.lr_scale
        )
    }

    fn from_csv(line: &str) -> Option<Self> {
        let f: Vec<&str> = line.split(',').collect();
        Some(Self {
            step: f.first()?.parse().ok()?,
            split: f.get(1)?.to_string(),
            loss: f.get(2)?.parse().ok()?,
            metric: f.get(3)?.parse().ok()?,
            lr_scale: f.get(4)?.parse().ok()?,
        })
    }
}

/// Receives progress as training runs (a progress bar, a log).
pub trait Observer {
    /// Before the first step: the names of the two metric columns.
    fn columns(&mut self, _names: [&'static str; 2]) {}
    /// After each optimiser step: the two metrics' means over the steps
    /// since the last time they were read from the device (`None` between
    /// reads, which happen a few times a second and at evaluations).
    fn step(&mut self, step: u64, total: u64, recent: Option<(f64, f64)>);
    /// After each evaluation.
    fn eval(&mut self, row: &MetricRow);
    /// Checked after each step that wrote a checkpoint: `true` ends the run
    /// there, as a kill would (it can be resumed).
    fn should_stop(&self, _step: u64) -> bool {
        false
    }
    /// Checked after each step between evaluations, in a run of one rank:
    /// `true` writes the last checkpoint (model and optimiser) at that step,
    /// without an evaluation, and ends the run there. A resume continues
    /// exactly from it; only the train row of the next evaluation differs,
    /// covering the steps after the resume instead of the whole interval.
    fn stop_between(&self, _step: u64) -> bool {
        false
    }
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Step reached (before `schedule.steps` when early stopping ended it).
    pub steps: u64,
    /// The names of the two metric columns.
    pub columns: [&'static str; 2],
    /// The best validation row.
    pub best_val: MetricRow,
    /// The test row of the best-validation checkpoint.
    pub test: MetricRow,
    /// Every metric row of the run.
    pub metrics: Vec<MetricRow>,
    /// Wall time of this invocation, seconds.
    pub seconds: f64,
    /// How the ranks summed their gradients (`Solo` on one device).
    pub transport: Transport,
}

/// Files of a run folder.
pub struct RunDir {
    /// The folder.
    pub dir: PathBuf,
}

impl RunDir {
    /// `runs/<name>`-style folder.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }
    /// Resolved config.
    pub fn config(&self) -> PathBuf {
        self.dir.join("config.toml")
    }
    /// Metrics CSV.
    pub fn metrics(&self) -> PathBuf {
        self.dir.join("metrics.csv")
    }
    /// Best-validation checkpoint.
    pub fn best(&self) -> PathBuf {
        self.dir.join("checkpoints").join("best.safetensors")
    }
    /// Latest checkpoint.
    pub fn last(&self) -> PathBuf {
        self.dir.join("checkpoints").join("last.safetensors")
    }
    /// The lock file a training process holds while it writes the run.
    pub fn lock(&self) -> PathBuf {
        self.dir.join(".lock")
    }

    /// Creates the folder if needed and takes its lock: fails, naming the
    /// folder, if another process holds it. The lock is released when the
    /// returned file is dropped (or the process dies).
    pub fn acquire(&self) -> Result<std::fs::File> {
        let io = |source| Error::Io {
            path: self.dir.clone(),
            source,
        };
        std::fs::create_dir_all(&self.dir).map_err(io)?;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.lock())
            .map_err(io)?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => Err(Error::config(
                "run",
                format!(
                    "{} is in use by another training process",
                    self.dir.display()
                ),
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(io(e)),
        }
    }

    /// Removes the temporary files a killed writer left (`.<name>.<pid>.tmp`
    /// beside a file written atomically); call while holding the lock.
    pub fn remove_stale_temporaries(&self) -> Result<()> {
        for dir in [self.dir.clone(), self.dir.join("checkpoints")] {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                let name = name.to_string_lossy();
                if name.starts_with('.') && name.ends_with(".tmp") {
                    std::fs::remove_file(entry.path()).map_err(|source| Error::Io {
                        path: entry.path(),
                        source,
                    })?;
                }
            }
        }
        Ok(())
    }
}

fn write_metrics(path: &Path, columns: [&str; 2], rows: &[MetricRow]) -> Result<()> {
    let mut text = MetricRow::header(columns);
    text.push('\n');
    for r in rows {
        text.push_str(&r.to_csv());
        text.push('\n');
    }
    write_atomic(path, text.as_bytes())
}

/// Reads a run's metrics CSV.
pub fn read_metrics(path: &Path) -> Result<Vec<MetricRow>> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(MetricRow::from_csv)
        .collect())
}

/// Trains per `config` in `run`; with `resume`, continues from the run's
/// last checkpoint (its config must equal `config`; a run killed before its
/// first checkpoint starts again from step 1). The run folder is locked for
/// the whole call: a second process on the same folder gets an error, and a
/// new run never overwrites a folder that holds one. Classification tasks
/// train a classifier, `forecast` tasks a forecaster, `lm` tasks a
/// language model.
pub fn train<B>(
    config: &TrainConfig,
    run: &RunDir,
    resume: bool,
    device: &B::Device,
    observer: &mut dyn Observer,
) -> Result<Summary>
where
    B: AutodiffBackend + SsmBackend,
    B::InnerBackend: SsmBackend,
{
    train_parallel::<B>(
        config,
        run,
        resume,
        std::slice::from_ref(device),
        Parallelism::Data,
        observer,
    )
}

/// [`train`] on `devices`, one rank per device, each rank a thread of
/// this process, the work of every step split between them as
/// `parallelism` says:
///
/// - [`Parallelism::Data`]: every step's batch (`schedule.batch_size`, the
///   global batch) is split into equal parts, one per rank;
/// - [`Parallelism::Sequence`] (language models with a Mamba, Mamba-2,
///   Mamba-3 or causal S5 mixer): every sequence of the batch is split
///   into consecutive parts, one per rank, the recurrent states passing
///   from rank to rank (`sequence_parallel`).
///
/// Each rank computes the gradient of its part, the gradients are summed
/// (by NCCL on the GPUs where the `cuda` feature is on and the library
/// loads, else through host memory: [`LocalGroup`](super::collective::LocalGroup)), and every rank takes
/// the same AdamW step. Every rank validates its part of the validation split's
/// batches; rank 0 writes the run's files, tests the best checkpoint and
/// reports to `observer`.
///
/// With the global batch kept, the run takes the same steps as one device
/// on the whole batch (to float rounding: the sums are reassociated; every
/// rank gets the same bits of each sum, so the replicas stay equal), and
/// a run can be resumed on any number of devices, split either way.
/// Dropout draws differ per rank, and burn's CPU backend draws them from
/// one generator shared by the threads, so CPU runs with dropout are not
/// reproducible.
pub fn train_parallel<B>(
    config: &TrainConfig,
    run: &RunDir,
    resume: bool,
    devices: &[B::Device],
    parallelism: Parallelism,
    observer: &mut dyn Observer,
) -> Result<Summary>
where
    B: AutodiffBackend + SsmBackend,
    B::InnerBackend: SsmBackend,
{
    let ranks = devices.len();
    if ranks == 0 {
        return Err(Error::config("devices", "needs at least one device"));
    }
    let batch = config.schedule.batch_size;
    match parallelism {
        Parallelism::Data if !batch.is_multiple_of(ranks) => {
            return Err(Error::config(
                "schedule.batch_size",
                format!(
                    "the global batch of {batch} does not split into {ranks} equal parts (one per device)"
                ),
            ));
        }
        Parallelism::Sequence if !matches!(config.task, TaskConfig::Lm(_)) => {
            return Err(Error::config(
                "task.kind",
                "sequence parallelism splits the sequences of language models (kind = \"lm\"); split the batch for other tasks (data parallelism)",
            ));
        }
        _ => {}
    }
    if let TaskConfig::Lm(_) = config.task {
        super::lm::check_split(config, parallelism, ranks)?;
    }
    if resume && !run.config().is_file() {
        return Err(Error::config(
            "resume",
            format!("{} holds no run (no config.toml)", run.dir.display()),
        ));
    }
    let _lock = run.acquire()?;
    run.remove_stale_temporaries()?;
    // For the whole run, every rank's thread: the setting is process-wide.
    let _tf32 = allow_tf32(config.optim.tf32);
    match &config.task {
        TaskConfig::Forecast(_) => {
            let objective = Forecasting::new(config)?;
            fit_ranks::<B, _>(&objective, config, run, resume, devices, observer)
        }
        TaskConfig::Lm(_) => {
            let objective = LanguageModeling::new(config)?.with_parallelism(parallelism, ranks);
            fit_ranks::<B, _>(&objective, config, run, resume, devices, observer)
        }
        _ => {
            let objective = Classification::new(config)?;
            fit_ranks::<B, _>(&objective, config, run, resume, devices, observer)
        }
    }
}

/// An observer that ignores everything (the ranks other than 0).
struct Silent;

impl Observer for Silent {
    fn step(&mut self, _: u64, _: u64, _: Option<(f64, f64)>) {}
    fn eval(&mut self, _: &MetricRow) {}
}

/// [`fit`] on every device, one rank each (`ranks::on_ranks`: rank 0 on
/// this thread with `observer`, the transport chosen there). A rank that
/// fails aborts the group, so the others stop too; the error returned is
/// the first rank's own, not the others' abort.
fn fit_ranks<B, O>(
    objective: &O,
    config: &TrainConfig,
    run: &RunDir,
    resume: bool,
    devices: &[B::Device],
    observer: &mut dyn Observer,
) -> Result<Summary>
where
    B: AutodiffBackend + SsmBackend,
    B::InnerBackend: SsmBackend,
    O: Objective<B>,
{
    let rank = |member: &dyn Collective, device: &B::Device, observer: &mut dyn Observer| {
        fit::<B, O>(objective, config, run, resume, device, member, observer)
    };
    let outcome = on_ranks(
        devices,
        |member, device| rank(member, device, observer),
        |member, device| rank(member, device, &mut Silent),
    );
    let transport = outcome.transport;
    let summary = outcome
        .into_lead()?
        .ok_or_else(|| Error::config("run", "rank 0 returned no summary"))?;
    Ok(Summary {
        transport,
        ..summary
    })
}

/// The first validation row with the best score (by `goal`), and how many
/// validation rows follow it; `None` before the first evaluation.
fn best_val(metrics: &[MetricRow], goal: Goal) -> Option<(&MetricRow, u64)> {
    let val: Vec<&MetricRow> = metrics.iter().filter(|r| r.split == "val").collect();
    let score = |r: &MetricRow| goal.score(r.loss, r.metric);
    let mut best = 0;
    for (i, r) in val.iter().enumerate() {
        if score(r) > score(val[best]) {
            best = i;
        }
    }
    val.get(best).map(|r| (*r, (val.len() - best - 1) as u64))
}

/// `part` summed over every rank of `collective`.
fn summed(collective: &dyn Collective, part: Tally) -> Result<Tally> {
    let mut sums = [part.loss, part.metric, part.count as f64];
    collective.all_reduce_sum(&mut sums)?;
    Ok(Tally {
        loss: sums[0],
        metric: sums[1],
        count: sums[2] as usize,
    })
}

/// Training batches drawn ahead of the step that uses them.
const PREFETCH: usize = 2;

/// How often the training loss is read back for the progress display
/// (each read waits for the device to finish the queued steps).
const READ_EVERY: Duration = Duration::from_millis(500);

/// The loop, for any objective, as one rank of `collective` (the run folder
/// is locked by the caller). Each rank trains and validates its part of the
/// data; rank 0 writes the run's files, tests the best checkpoint and
/// returns the summary, the other ranks return `None`.
fn fit<B, O>(
    objective: &O,
    config: &TrainConfig,
    run: &RunDir,
    resume: bool,
    device: &B::Device,
    collective: &dyn Collective,
    observer: &mut dyn Observer,
) -> Result<Option<Summary>>
where
    B: AutodiffBackend + SsmBackend,
    B::InnerBackend: SsmBackend,
    O: Objective<B>,
{
    let started = Instant::now();
    let lead = collective.rank() == 0;
    let shard = Shard {
        index: collective.rank(),
        count: collective.size(),
    };
    let columns = objective.columns();
    let goal = objective.goal();
    let toml = config.to_toml();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    B::seed(device, config.seed);
    let mut model = objective.init(device, &mut rng)?;
    let mut optim = AdamW::<B::InnerBackend>::new(config.optim.clone());
    let mut metrics: Vec<MetricRow> = Vec::new();
    let mut first_step = 1;
    if lead && !resume && run.config().exists() {
        return Err(Error::config(
            "run",
            format!(
                "{} already holds a run: choose another --name or --resume it",
                run.dir.display()
            ),
        ));
    }
    if resume && run.last().is_file() {
        let last = run.last();
        let info = checkpoint::info(&last)?;
        if info.config != toml {
            return Err(Error::config(
                "resume",
                format!(
                    "{} was trained with a different config; resume with the run's own config.toml",
                    run.dir.display()
                ),
            ));
        }
        model = checkpoint::load_model(&last, model)?;
        checkpoint::load_optim(&last, &mut optim, device)?;
        metrics = read_metrics(&run.metrics())?
            .into_iter()
            .filter(|r| r.step <= info.step && r.split != "test")
            .collect();
        first_step = info.step + 1;
    } else if lead {
        // A new run, or one killed before its first checkpoint: from step 1.
        write_atomic(&run.config(), toml.as_bytes())?;
    }
    // Replicas start equal whatever their initialisation drew.
    model = broadcast_params(model, collective)?;
    let schedule = CosineWithWarmup {
        warmup: config.schedule.warmup,
        total: config.schedule.steps,
    };
    let total = config.schedule.steps;
    let patience = config.schedule.patience;
    // Early stopping: after `patience` evaluations without a better one
    // (decided at evaluations only, and again for a resumed run).
    let stopped = |metrics: &[MetricRow]| {
        patience.is_some_and(|p| best_val(metrics, goal).is_some_and(|(_, after)| after >= p))
    };
    let mut stop = stopped(&metrics);
    let mut best_score =
        best_val(&metrics, goal).map_or(f64::NEG_INFINITY, |(r, _)| goal.score(r.loss, r.metric));
    let mut last_step = metrics.last().map_or(0, |r| r.step);
    observer.columns(columns);
    let seed = config.seed;
    std::thread::scope(|scope| -> Result<()> {
        // The next batches are drawn on their own thread while the device
        // runs the current step.
        let (sender, batches) = mpsc::sync_channel(PREFETCH);
        scope.spawn(move || {
            for s in first_step..=total {
                if sender.send(objective.prepare(seed, s, shard)).is_err() {
                    break;
                }
            }
        });
        // Sums since the last evaluation (its train row) and since the last
        // read (the progress display), both kept on the device.
        let mut window = PendingTally::<B::InnerBackend>::default();
        let mut recent = PendingTally::<B::InnerBackend>::default();
        let mut recent_from = first_step;
        let mut last_read = Instant::now();
        // A single rank runs its steps on a pool of its own (host_pool);
        // ranks run theirs on their own threads.
        let pool = if collective.size() == 1 {
            Some(OwnPool::new()?)
        } else {
            None
        };
        for s in first_step..=total {
            if stop {
                break;
            }
            let batch = batches.recv().map_err(|_| Error::Numerical {
                what: "training data".into(),
                message: format!("the thread drawing batches stopped before step {s}"),
            })??;
            // Dropout draws depend only on (seed, step, rank), so a resumed
            // run repeats them.
            let rank_bits = (collective.rank() as u64) << 48;
            B::seed(
                device,
                seed.wrapping_mul(0x9E37_79B9).wrapping_add(s) ^ rank_bits,
            );
            // The step's work on the pool when this is the only rank, the
            // gradient exchange outside: it waits for the other ranks.
            let loss_scale = optim.loss_factor();
            let (stepped, grads, tally) = on_own_pool_if(pool.as_ref(), move || -> Result<_> {
                let (grads, tally) =
                    objective.gradients(&model, batch, device, collective, loss_scale)?;
                Ok((model, grads, tally))
            })?;
            let grads = all_reduce_grads::<B, _>(&stepped, grads, tally.count(), collective)?;
            let lr_scale = schedule.factor(s);
            let adamw = &mut optim;
            model = on_own_pool_if(pool.as_ref(), move || {
                step::<B, _>(adamw, stepped, &grads, lr_scale).0
            });
            window.add(tally.clone());
            recent.add(tally);
            last_step = s;

            let evaluate = s % config.schedule.eval_every == 0 || s == total;
            // Reading numbers back waits for the device: only at
            // evaluations and a few times a second for the display.
            let shown = if evaluate || (lead && last_read.elapsed() >= READ_EVERY) {
                let read = std::mem::take(&mut recent).read();
                if !read.loss.is_finite() {
                    return Err(Error::NonFinite {
                        name: "loss".into(),
                        message: format!(
                            "in steps {recent_from}..={s}; lower the learning rate or enable grad_clip"
                        ),
                    });
                }
                last_read = Instant::now();
                recent_from = s + 1;
                Some(read.means())
            } else {
                None
            };
            observer.step(s, total, shown);

            if evaluate {
                // The train row of the whole batch: every rank's sums.
                let (loss, metric) =
                    summed(collective, std::mem::take(&mut window).read())?.means();
                // Every rank validates its part of the split.
                let val = summed(
                    collective,
                    objective.evaluate(&model.valid(), Split::Val, shard, device)?,
                )?;
                // Rank 0 writes the files and decides whether the run
                // stops here; the others follow its decision.
                let mut decision = [0.0, 0.0];
                if lead {
                    let train_row = MetricRow {
                        step: s,
                        split: "train".into(),
                        loss,
                        metric,
                        lr_scale,
                    };
                    let (loss, metric) = val.means();
                    let val_row = MetricRow {
                        step: s,
                        split: "val".into(),
                        loss,
                        metric,
                        lr_scale,
                    };
                    observer.eval(&train_row);
                    observer.eval(&val_row);
                    metrics.push(train_row);
                    metrics.push(val_row);
                    // Metrics first: a kill between the two leaves rows that a
                    // resume from the older checkpoint drops, never a gap.
                    write_metrics(&run.metrics(), columns, &metrics)?;
                    let score = goal.score(loss, metric);
                    if score > best_score {
                        best_score = score;
                        checkpoint::save_model::<B, _>(&run.best(), &model, s, &toml)?;
                    }
                    checkpoint::save::<B, _, _>(&run.last(), &model, &optim, s, &toml)?;
                    let stop = stopped(&metrics);
                    let interrupt = s < total && !stop && observer.should_stop(s);
                    decision = [f64::from(u8::from(stop)), f64::from(u8::from(interrupt))];
                }
                collective.all_reduce_sum(&mut decision)?;
                stop = decision[0] > 0.0;
                if decision[1] > 0.0 {
                    return Err(Error::Interrupted { step: s });
                }
            } else if collective.size() == 1 && observer.stop_between(s) {
                // (Not the last step: that one always evaluates.)
                // One rank: no other has to agree, so no exchange per step.
                // The metrics file too, for a stop before the first
                // evaluation: a resume reads it.
                write_metrics(&run.metrics(), columns, &metrics)?;
                checkpoint::save::<B, _, _>(&run.last(), &model, &optim, s, &toml)?;
                return Err(Error::Interrupted { step: s });
            }
        }
        Ok(())
    })?;
    if !lead {
        return Ok(None);
    }
    let best_val = best_val(&metrics, goal)
        .map(|(r, _)| r.clone())
        .ok_or_else(|| Error::config("schedule", "the run ended before its first evaluation"))?;
    // Test the best-validation model.
    let best_model = checkpoint::load_model(&run.best(), objective.init(device, &mut rng)?)?;
    let (loss, metric) = objective
        .evaluate(&best_model.valid(), Split::Test, Shard::WHOLE, device)?
        .means();
    let test = MetricRow {
        step: last_step,
        split: "test".into(),
        loss,
        metric,
        lr_scale: 0.0,
    };
    observer.eval(&test);
    metrics.push(test.clone());
    write_metrics(&run.metrics(), columns, &metrics)?;
    Ok(Some(Summary {
        steps: last_step,
        columns,
        best_val,
        test,
        metrics,
        seconds: started.elapsed().as_secs_f64(),
        // The rank runner (`fit_ranks`) knows the transport and sets it.
        transport: Transport::Solo,
    }))
}
