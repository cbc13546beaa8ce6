//! Language modelling as a training objective: a [`LanguageModel`] on
//! windows of a text corpus ([`crate::tasks::text`]), next-token
//! cross-entropy as the loss, bits per byte as the metric.

use std::f64::consts::LN_2;

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use super::config::TrainConfig;
use super::objective::{Goal, Objective, PendingTally, Shard, Tally};
use crate::error::{Error, Result};
use crate::models::{LanguageModel, LmConfig};
use crate::ops::{SsmBackend, mean_cross_entropy};
use crate::tasks::text::{TextConfig, TextData, Windows};
use crate::tasks::{Split, TaskConfig};

/// A corpus and its language model.
pub struct LanguageModeling {
    data: TextData,
    model: LmConfig,
    batch: usize,
}

/// The `lm` task of `config`, or an error naming `task.kind`.
fn text_task(config: &TrainConfig) -> Result<&TextConfig> {
    match &config.task {
        TaskConfig::Lm(task) => Ok(task),
        _ => Err(Error::config("task.kind", "not an lm task")),
    }
}

/// The language model of `config` (an `lm` task), checked, without
/// reading the corpus (the vocabulary comes from the tokenizer, or is the
/// 256 byte values).
pub fn model_config(config: &TrainConfig) -> Result<LmConfig> {
    let task = text_task(config)?;
    task.validate()?;
    config
        .model
        .language_model(task.vocab_size()?, task.seq_len)
}

impl LanguageModeling {
    /// The corpus and model of `config` (an `lm` task), checked.
    pub fn new(config: &TrainConfig) -> Result<Self> {
        let model = model_config(config)?;
        let data = text_task(config)?.load()?;
        Ok(Self {
            data,
            model,
            batch: config.schedule.batch_size,
        })
    }

    /// The corpus.
    pub fn data(&self) -> &TextData {
        &self.data
    }

    /// The model's config.
    pub fn model(&self) -> &LmConfig {
        &self.model
    }

    /// The mean next-token negative log-likelihood (nats) of windows under
    /// `model` (for the gradient), and the windows' tally on the device:
    /// nats and bits per byte of `split`'s text, summed over the targets.
    fn nll<B: SsmBackend>(
        &self,
        model: &LanguageModel<B>,
        windows: Windows,
        split: Split,
        device: &B::Device,
    ) -> Result<(Tensor<B, 1>, PendingTally<B>)> {
        let n = windows.targets.len();
        let targets = Tensor::<B, 1, Int>::from_data(TensorData::new(windows.targets, [n]), device);
        let logits = model.forward_ids(windows.inputs, windows.count)?;
        let [b, l, v] = logits.dims();
        let loss = mean_cross_entropy(logits.reshape([b * l, v]), targets)?;
        let nats = loss.clone().detach() * (b * l) as f64;
        let bits_per_byte = nats.clone() / (LN_2 * self.data.bytes_per_token(split));
        let sums = Tensor::cat(vec![nats, bits_per_byte], 0);
        Ok((loss, PendingTally::new(sums, b * l)))
    }

    /// The tally of `model` over `shard`'s part of `split`'s evaluation
    /// windows (the first `max_eval_tokens` targets of the split): its means
    /// are nats per token and bits per byte.
    pub fn evaluate_split<B: SsmBackend>(
        &self,
        model: &LanguageModel<B>,
        split: Split,
        shard: Shard,
        device: &B::Device,
    ) -> Result<Tally> {
        let batches = self.data.eval_batches(split, self.batch);
        let part = shard.range(batches.len());
        let mut total = PendingTally::default();
        for windows in batches.into_iter().skip(part.start).take(part.len()) {
            total.add(self.nll(model, windows, split, device)?.1);
        }
        Ok(total.read())
    }
}

impl<B> Objective<B> for LanguageModeling
where
    B: AutodiffBackend + SsmBackend,
    B::InnerBackend: SsmBackend,
{
    type Model = LanguageModel<B>;

    fn columns(&self) -> [&'static str; 2] {
        ["loss", "bits_per_byte"]
    }

    fn goal(&self) -> Goal {
        Goal::MinLoss
    }

    fn init(&self, device: &B::Device, rng: &mut ChaCha8Rng) -> Result<LanguageModel<B>> {
        self.model.init(device, rng)
    }

    type Batch = Windows;

    fn prepare(&self, seed: u64, step: u64, shard: Shard) -> Result<Windows> {
        Ok(self
            .data
            .train_windows(seed, self.batch, step, shard.range(self.batch)))
    }

    fn train_step(
        &self,
        model: &LanguageModel<B>,
        windows: Windows,
        device: &B::Device,
    ) -> Result<(Tensor<B, 1>, PendingTally<B::InnerBackend>)> {
        let (loss, tally) = self.nll(model, windows, Split::Train, device)?;
        Ok((loss, tally.inner()))
    }

    fn evaluate(
        &self,
        model: &LanguageModel<B::InnerBackend>,
        split: Split,
        shard: Shard,
        device: &B::Device,
    ) -> Result<Tally> {
        self.evaluate_split::<B::InnerBackend>(model, split, shard, device)
    }
}
