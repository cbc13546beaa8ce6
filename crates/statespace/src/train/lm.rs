//! Language modelling as a training objective: a [`LanguageModel`] on
//! windows of a text corpus ([`crate::tasks::text`]), next-token
//! cross-entropy as the loss, bits per byte as the metric.

use std::f64::consts::LN_2;

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use super::config::TrainConfig;
use super::objective::{Goal, Objective, Tally};
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

    /// The summed next-token negative log-likelihood (nats) of windows
    /// under `model`, and the mean as a tensor (for the gradient).
    fn nll<B: SsmBackend>(
        model: &LanguageModel<B>,
        windows: &Windows,
        device: &B::Device,
    ) -> Result<(Tensor<B, 1>, usize)> {
        let len = windows.inputs.len() / windows.count;
        let tokens = Tensor::<B, 2, Int>::from_data(
            TensorData::new(windows.inputs.clone(), [windows.count, len]),
            device,
        );
        let targets = Tensor::<B, 1, Int>::from_data(
            TensorData::new(windows.targets.clone(), [windows.targets.len()]),
            device,
        );
        let logits = model.forward(tokens)?;
        let [b, l, v] = logits.dims();
        let loss = mean_cross_entropy(logits.reshape([b * l, v]), targets)?;
        Ok((loss, b * l))
    }

    /// The tally of `count` targets of `split` whose mean loss is `mean`:
    /// nats, and bits per byte.
    fn tally(&self, mean: f64, count: usize, split: Split) -> Tally {
        let nats = mean * count as f64;
        Tally {
            loss: nats,
            metric: nats / LN_2 / self.data.bytes_per_token(split),
            count,
        }
    }

    /// The tally of `model` over `split`'s evaluation windows (its first
    /// `max_eval_tokens` targets): its means are nats per token and bits
    /// per byte.
    pub fn evaluate_split<B: SsmBackend>(
        &self,
        model: &LanguageModel<B>,
        split: Split,
        device: &B::Device,
    ) -> Result<Tally> {
        let mut total = Tally::default();
        for windows in self.data.eval_batches(split, self.batch) {
            let (loss, count) = Self::nll(model, &windows, device)?;
            let mean: f64 = burn::tensor::ElementConversion::elem(loss.into_scalar());
            total.add(self.tally(mean, count, split));
        }
        Ok(total)
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

    fn train_step(
        &self,
        model: &LanguageModel<B>,
        seed: u64,
        step: u64,
        device: &B::Device,
    ) -> Result<(Tensor<B, 1>, Tally)> {
        let windows = self.data.train_windows(seed, self.batch, step);
        let (loss, count) = Self::nll(model, &windows, device)?;
        let mean: f64 = burn::tensor::ElementConversion::elem(loss.clone().into_scalar());
        Ok((loss, self.tally(mean, count, Split::Train)))
    }

    fn evaluate(
        &self,
        model: &LanguageModel<B::InnerBackend>,
        split: Split,
        device: &B::Device,
    ) -> Result<Tally> {
        self.evaluate_split::<B::InnerBackend>(model, split, device)
    }
}
