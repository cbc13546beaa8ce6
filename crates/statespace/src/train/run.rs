//! The training loop: steps of AdamW on a classifier, periodic validation,
//! the best and last checkpoints, a metrics CSV, and resumption from the
//! last checkpoint with the same data order and randomness.

use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::checkpoint;
use super::config::TrainConfig;
use super::data::{collate, train_batch};
use super::optim::{AdamW, step};
use super::schedule::CosineWithWarmup;
use crate::error::{Error, Result};
use crate::io::write_atomic;
use crate::models::classifier::Classifier;
use crate::ops::{CrossEntropyOps, SsmBackend, mean_cross_entropy};
use crate::tasks::{Split, Task};

/// One row of the metrics CSV.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    /// Optimiser step.
    pub step: u64,
    /// `train`, `val` or `test`.
    pub split: String,
    /// Mean cross-entropy.
    pub loss: f64,
    /// Accuracy in [0, 1].
    pub accuracy: f64,
    /// Learning-rate multiplier of the schedule.
    pub lr_scale: f64,
}

impl MetricRow {
    const HEADER: &'static str = "step,split,loss,accuracy,lr_scale";

    fn to_csv(&self) -> String {
        format!(
            "{},{},{:.6},{:.6},{:.6}",
            self.step, self.split, self.loss, self.accuracy, self.lr_scale
        )
    }

    fn from_csv(line: &str) -> Option<Self> {
        let f: Vec<&str> = line.split(',').collect();
        Some(Self {
            step: f.first()?.parse().ok()?,
            split: f.get(1)?.to_string(),
            loss: f.get(2)?.parse().ok()?,
            accuracy: f.get(3)?.parse().ok()?,
            lr_scale: f.get(4)?.parse().ok()?,
        })
    }
}

/// Receives progress as training runs (a progress bar, a log).
pub trait Observer {
    /// After each optimiser step.
    fn step(&mut self, step: u64, total: u64, loss: f64, accuracy: f64);
    /// After each evaluation.
    fn eval(&mut self, row: &MetricRow);
    /// Checked after each step that wrote a checkpoint: `true` ends the run
    /// there, as a kill would (it can be resumed).
    fn should_stop(&self, _step: u64) -> bool {
        false
    }
}

/// The outcome of a run.
#[derive(Debug, Clone)]
pub struct Summary {
    /// Step reached.
    pub steps: u64,
    /// Best validation accuracy.
    pub best_val_accuracy: f64,
    /// Test accuracy of the best-validation checkpoint.
    pub test_accuracy: f64,
    /// Test loss of that checkpoint.
    pub test_loss: f64,
    /// Every metric row of the run.
    pub metrics: Vec<MetricRow>,
    /// Wall time of this invocation, seconds.
    pub seconds: f64,
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

/// Mean cross-entropy of `logits` (N, C) against `labels` (N), and the
/// number of correct argmax predictions; fails on labels that are not one
/// per row of the logits.
pub fn cross_entropy<B: CrossEntropyOps>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
) -> Result<(Tensor<B, 1>, usize)> {
    crate::ops::cross_entropy::check_cross_entropy(&logits, &labels)?;
    let batch = labels.dims()[0];
    let predicted = logits.clone().argmax(1).reshape([batch]);
    let correct = predicted.equal(labels.clone()).int().sum().into_scalar();
    let correct: i64 = burn::tensor::ElementConversion::elem(correct);
    Ok((mean_cross_entropy(logits, labels)?, correct as usize))
}

/// Loss and accuracy of `model` on a whole split; accuracy is the fraction
/// of correct targets (sequences, or target steps for step-target tasks).
pub fn evaluate<B: SsmBackend>(
    model: &Classifier<B>,
    task: &dyn Task,
    split: Split,
    batch: usize,
    device: &B::Device,
) -> Result<(f64, f64)> {
    let n = task.size(split);
    let (mut loss_sum, mut correct, mut targets) = (0.0, 0usize, 0usize);
    for start in (0..n).step_by(batch.max(1)) {
        let examples: Vec<_> = (start..(start + batch).min(n))
            .map(|i| task.example(split, i))
            .collect();
        let b = collate::<B>(task, &examples, device);
        let count = b.targets();
        let logits = model.forward(b.inputs.clone(), b.readout())?;
        let (loss, c) = cross_entropy(logits, b.labels)?;
        let loss: f64 = burn::tensor::ElementConversion::elem(loss.into_scalar());
        loss_sum += loss * count as f64;
        correct += c;
        targets += count;
    }
    Ok((loss_sum / targets as f64, correct as f64 / targets as f64))
}

fn write_metrics(path: &Path, rows: &[MetricRow]) -> Result<()> {
    let mut text = String::from(MetricRow::HEADER);
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

/// Bytes of f32 activations kept per (example, step, d_model channel, layer)
/// for the backward: a floor (the selective mixers keep more), enough to
/// refuse sizes that cannot fit without refusing ones that might.
const ACTIVATION_BYTES: u128 = 32;

/// Fails, naming the key to change, if one training step cannot fit in
/// memory: parameters, gradients and two AdamW moments (16 bytes each) plus
/// the activations of a batch.
fn check_memory(
    config: &TrainConfig,
    model: &crate::models::classifier::ClassifierConfig,
    max_len: usize,
) -> Result<()> {
    let params = model.param_count()? as u128;
    crate::size::check_fits(
        "the model and its optimiser state",
        "model.d_model",
        params * 16,
    )?;
    let activations = config.schedule.batch_size as u128
        * max_len as u128
        * model.mixer.d_model() as u128
        * model.n_layers as u128
        * ACTIVATION_BYTES;
    crate::size::check_fits(
        "one training step's activations",
        "schedule.batch_size",
        params * 16 + activations,
    )
}

/// Trains per `config` in `run`; with `resume`, continues from the run's
/// last checkpoint (its config must equal `config`; a run killed before its
/// first checkpoint starts again from step 1). The run folder is locked for
/// the whole call: a second process on the same folder gets an error, and a
/// new run never overwrites a folder that holds one.
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
    let started = Instant::now();
    if resume && !run.config().is_file() {
        return Err(Error::config(
            "resume",
            format!("{} holds no run (no config.toml)", run.dir.display()),
        ));
    }
    let _lock = run.acquire()?;
    run.remove_stale_temporaries()?;
    let task = config.task.build()?;
    let model_config = config.model.classifier(task.as_ref())?;
    model_config.validate()?;
    check_memory(config, &model_config, task.max_len())?;
    let toml = config.to_toml();
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    B::seed(device, config.seed);
    let mut model: Classifier<B> = model_config.init(device, &mut rng)?;
    let mut optim = AdamW::<B::InnerBackend>::new(config.optim.clone());
    let mut metrics: Vec<MetricRow> = Vec::new();
    let mut first_step = 1;
    if !resume && run.config().exists() {
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
            .filter(|r| r.step <= info.step)
            .collect();
        first_step = info.step + 1;
    } else {
        // A new run, or one killed before its first checkpoint: from step 1.
        write_atomic(&run.config(), toml.as_bytes())?;
    }
    let schedule = CosineWithWarmup {
        warmup: config.schedule.warmup,
        total: config.schedule.steps,
    };
    let total = config.schedule.steps;
    let batch = config.schedule.batch_size;
    let mut best_val = metrics
        .iter()
        .filter(|r| r.split == "val")
        .map(|r| r.accuracy)
        .fold(f64::NEG_INFINITY, f64::max);
    let (mut window_loss, mut window_correct, mut window_seen) = (0.0, 0usize, 0usize);
    for s in first_step..=total {
        // Dropout draws depend only on (seed, step), so a resumed run repeats them.
        B::seed(
            device,
            config.seed.wrapping_mul(0x9E37_79B9).wrapping_add(s),
        );
        let b = train_batch::<B>(task.as_ref(), config.seed, batch, s, device);
        let count = b.targets();
        let logits = model.forward(b.inputs.clone(), b.readout())?;
        let (loss, correct) = cross_entropy(logits, b.labels)?;
        let loss_value: f64 = burn::tensor::ElementConversion::elem(loss.clone().into_scalar());
        if !loss_value.is_finite() {
            return Err(Error::NonFinite {
                name: "loss".into(),
                message: format!("at step {s}; lower the learning rate or enable grad_clip"),
            });
        }
        let grads = GradientsParams::from_grads(loss.backward(), &model);
        let lr_scale = schedule.factor(s);
        model = step::<B, _>(&mut optim, model, &grads, lr_scale).0;
        window_loss += loss_value * count as f64;
        window_correct += correct;
        window_seen += count;
        observer.step(s, total, loss_value, correct as f64 / count as f64);

        if s % config.schedule.eval_every == 0 || s == total {
            let train_row = MetricRow {
                step: s,
                split: "train".into(),
                loss: window_loss / window_seen as f64,
                accuracy: window_correct as f64 / window_seen as f64,
                lr_scale,
            };
            (window_loss, window_correct, window_seen) = (0.0, 0, 0);
            let valid = model.valid();
            let (loss, accuracy) = evaluate(&valid, task.as_ref(), Split::Val, batch, device)?;
            let val_row = MetricRow {
                step: s,
                split: "val".into(),
                loss,
                accuracy,
                lr_scale,
            };
            observer.eval(&train_row);
            observer.eval(&val_row);
            metrics.push(train_row);
            metrics.push(val_row);
            // Metrics first: a kill between the two leaves rows that a
            // resume from the older checkpoint drops, never a gap.
            write_metrics(&run.metrics(), &metrics)?;
            if accuracy > best_val {
                best_val = accuracy;
                checkpoint::save::<B, _, _>(&run.best(), &model, &optim, s, &toml)?;
            }
            checkpoint::save::<B, _, _>(&run.last(), &model, &optim, s, &toml)?;
            if s < total && observer.should_stop(s) {
                return Err(Error::Interrupted { step: s });
            }
        }
    }
    // Test the best-validation model.
    let best_model: Classifier<B> =
        checkpoint::load_model(&run.best(), model_config.init(device, &mut rng)?)?;
    let (test_loss, test_accuracy) = evaluate(
        &best_model.valid(),
        task.as_ref(),
        Split::Test,
        batch,
        device,
    )?;
    let test_row = MetricRow {
        step: total,
        split: "test".into(),
        loss: test_loss,
        accuracy: test_accuracy,
        lr_scale: 0.0,
    };
    observer.eval(&test_row);
    metrics.retain(|r| r.split != "test");
    metrics.push(test_row);
    write_metrics(&run.metrics(), &metrics)?;
    Ok(Summary {
        steps: total,
        best_val_accuracy: best_val,
        test_accuracy,
        test_loss,
        metrics,
        seconds: started.elapsed().as_secs_f64(),
    })
}
