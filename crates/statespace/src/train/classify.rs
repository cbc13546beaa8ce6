//! Classification as a training objective: a [`Classifier`] on a task's
//! token or value sequences, cross-entropy loss, accuracy as the metric.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::config::TrainConfig;
use super::data::{collate, train_examples};
use super::objective::{Goal, Objective, PendingTally, Shard, Tally};
use crate::error::Result;
use crate::models::classifier::{Classifier, ClassifierConfig};
use crate::ops::{CrossEntropyOps, SsmBackend, mean_cross_entropy};
use crate::tasks::{Example, Split, Task};

/// A classification task and its classifier.
pub struct Classification {
    task: Box<dyn Task>,
    model: ClassifierConfig,
    batch: usize,
}

impl Classification {
    /// The task and model of `config`, checked (including that a training
    /// step fits in memory).
    pub fn new(config: &TrainConfig) -> Result<Self> {
        let task = config.task.build()?;
        let model = config.model.classifier(task.as_ref())?;
        model.validate()?;
        check_memory(config, &model, task.max_len())?;
        Ok(Self {
            task,
            model,
            batch: config.schedule.batch_size,
        })
    }
}

impl<B> Objective<B> for Classification
where
    B: AutodiffBackend + SsmBackend,
    B::InnerBackend: SsmBackend,
{
    type Model = Classifier<B>;

    fn columns(&self) -> [&'static str; 2] {
        ["loss", "accuracy"]
    }

    fn goal(&self) -> Goal {
        Goal::MaxMetric
    }

    fn init(&self, device: &B::Device, rng: &mut ChaCha8Rng) -> Result<Classifier<B>> {
        self.model.init(device, rng)
    }

    type Batch = Vec<Example>;

    fn prepare(&self, seed: u64, step: u64, shard: Shard) -> Result<Vec<Example>> {
        Ok(train_examples(
            self.task.as_ref(),
            seed,
            self.batch,
            step,
            shard,
        ))
    }

    fn train_step(
        &self,
        model: &Classifier<B>,
        examples: Vec<Example>,
        device: &B::Device,
    ) -> Result<(Tensor<B, 1>, PendingTally<B::InnerBackend>)> {
        let b = collate::<B>(self.task.as_ref(), &examples, device);
        let count = b.targets();
        let logits = model.forward(b.inputs.clone(), b.readout())?;
        let (loss, sums) = cross_entropy(logits, b.labels)?;
        Ok((loss, PendingTally::new(sums.inner(), count)))
    }

    fn evaluate(
        &self,
        model: &Classifier<B::InnerBackend>,
        split: Split,
        shard: Shard,
        device: &B::Device,
    ) -> Result<Tally> {
        tally(model, self.task.as_ref(), split, shard, self.batch, device)
    }
}

/// Mean cross-entropy of `logits` (N, C) against `labels` (N), and the
/// batch's tally sums, detached and left on the device: (2) = [summed
/// cross-entropy, correct argmax predictions]. Fails on labels that are
/// not one per row of the logits.
pub fn cross_entropy<B: CrossEntropyOps>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
) -> Result<(Tensor<B, 1>, Tensor<B, 1>)> {
    crate::ops::cross_entropy::check_cross_entropy(&logits, &labels)?;
    let batch = labels.dims()[0];
    let predicted = logits.clone().detach().argmax(1).reshape([batch]);
    let correct = predicted.equal(labels.clone()).int().sum().float();
    let loss = mean_cross_entropy(logits, labels)?;
    let sums = Tensor::cat(vec![loss.clone().detach() * batch as f64, correct], 0);
    Ok((loss, sums))
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
    Ok(tally(model, task, split, Shard::WHOLE, batch, device)?.means())
}

/// Loss and correct-prediction sums over `shard`'s part of a split (read
/// from the device once, at the end).
fn tally<B: SsmBackend>(
    model: &Classifier<B>,
    task: &dyn Task,
    split: Split,
    shard: Shard,
    batch: usize,
    device: &B::Device,
) -> Result<Tally> {
    let part = shard.range(task.size(split));
    let mut total = PendingTally::default();
    for start in part.clone().step_by(batch.max(1)) {
        let examples: Vec<_> = (start..(start + batch).min(part.end))
            .into_par_iter()
            .map(|i| task.example(split, i))
            .collect();
        let b = collate::<B>(task, &examples, device);
        let count = b.targets();
        let logits = model.forward(b.inputs.clone(), b.readout())?;
        let (_, sums) = cross_entropy(logits, b.labels)?;
        total.add(PendingTally::new(sums, count));
    }
    Ok(total.read())
}

/// Bytes of f32 activations kept per (example, step, d_model channel, layer)
/// for the backward: a floor (the selective mixers keep more), enough to
/// refuse sizes that cannot fit without refusing ones that might.
const ACTIVATION_BYTES: u128 = 32;

/// Fails, naming the key to change, if one training step cannot fit in
/// memory: parameters, gradients and two AdamW moments (16 bytes each) plus
/// the activations of a batch.
pub(crate) fn check_memory(
    config: &TrainConfig,
    model: &ClassifierConfig,
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
