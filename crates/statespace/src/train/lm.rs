//! Language modelling as a training objective: a [`LanguageModel`] on
//! windows of a text corpus ([`crate::tasks::text`]), next-token
//! cross-entropy as the loss, bits per byte as the metric.

use std::f64::consts::LN_2;

use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use super::collective::Collective;
use super::config::TrainConfig;
use super::objective::{
    Goal, Objective, Parallelism, PendingTally, Shard, Tally, backward_of, scaled,
};
use super::sequence_parallel::Chain;
use crate::error::{Error, Result};
use crate::models::{LanguageModel, LmConfig, Precision};
use crate::ops::{SsmBackend, mean_cross_entropy};
use crate::tasks::text::{TextConfig, TextData, Windows};
use crate::tasks::{Split, TaskConfig};

/// A corpus and its language model.
pub struct LanguageModeling {
    data: TextData,
    model: LmConfig,
    batch: usize,
    parallelism: Parallelism,
    /// Positions per forward pass when evaluating (`None`: whole windows).
    eval_part: Option<usize>,
    /// The arithmetic of training and evaluation (`optim.precision`).
    precision: Precision,
}

/// Checks that `config` (an `lm` task) can be split between `ranks` ranks
/// as `parallelism` says, without reading the corpus: by sequences, every
/// rank needs at least one position and the mixer's state must be one the
/// ranks can carry.
pub fn check_split(config: &TrainConfig, parallelism: Parallelism, ranks: usize) -> Result<()> {
    if parallelism == Parallelism::Data {
        return Ok(());
    }
    let len = text_task(config)?.seq_len;
    if len < ranks {
        return Err(Error::config(
            "task.seq_len",
            format!("{len} positions do not split into {ranks} parts (one per rank)"),
        ));
    }
    if !model_config(config)?.mixer.state_is_carried() {
        return Err(Error::config(
            "model.mixer",
            "sequence parallelism carries the state of Mamba, Mamba-2, Mamba-3 and causal S5 mixers only; split the batch instead (data parallelism)",
        ));
    }
    Ok(())
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
            parallelism: Parallelism::Data,
            eval_part: None,
            precision: config.optim.precision,
        })
    }

    /// The objective with training steps split between `ranks` ranks as
    /// `parallelism` says (checked by [`check_split`]). Split by sequences,
    /// evaluation reads its windows in parts of the training parts' length,
    /// carrying the recurrent state, so it needs no more memory than a
    /// training step of one rank.
    pub fn with_parallelism(mut self, parallelism: Parallelism, ranks: usize) -> Self {
        self.parallelism = parallelism;
        self.eval_part = match parallelism {
            Parallelism::Data => None,
            Parallelism::Sequence => Some(self.data.seq_len().div_ceil(ranks.max(1))),
        };
        self
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
        let logits = model.forward_ids(windows.inputs, windows.count)?;
        self.nll_of(logits, windows.targets, split, device)
    }

    /// [`LanguageModeling::nll`] of logits (B, L, vocab) already computed,
    /// with their `targets` (B · L, row-major).
    fn nll_of<B: SsmBackend>(
        &self,
        logits: Tensor<B, 3>,
        targets: Vec<i64>,
        split: Split,
        device: &B::Device,
    ) -> Result<(Tensor<B, 1>, PendingTally<B>)> {
        let n = targets.len();
        let targets = Tensor::<B, 1, Int>::from_data(TensorData::new(targets, [n]), device);
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
            match self.eval_part {
                None => total.add(self.nll(model, windows, split, device)?.1),
                Some(part) => total.add(self.nll_in_parts(model, &windows, part, split, device)?),
            }
        }
        Ok(total.read())
    }

    /// The tally of [`LanguageModeling::nll`], the windows read `part`
    /// positions at a time with the recurrent state carried between parts.
    fn nll_in_parts<B: SsmBackend>(
        &self,
        model: &LanguageModel<B>,
        windows: &Windows,
        part: usize,
        split: Split,
        device: &B::Device,
    ) -> Result<PendingTally<B>> {
        let len = windows.inputs.len() / windows.count.max(1);
        let mut state = model.initial_state(windows.count)?;
        let mut total = PendingTally::default();
        for start in (0..len).step_by(part.max(1)) {
            let chunk = windows.positions(start..(start + part).min(len))?;
            let width = chunk.inputs.len() / chunk.count;
            let tokens = Tensor::<B, 2, Int>::from_data(
                TensorData::new(chunk.inputs, [chunk.count, width]),
                device,
            );
            let (logits, next) = model.forward_with_state(&state, tokens)?;
            state = next;
            total.add(self.nll_of(logits, chunk.targets, split, device)?.1);
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
        Ok(self.model.init(device, rng)?.with_precision(self.precision))
    }

    type Batch = Windows;

    fn prepare(&self, seed: u64, step: u64, shard: Shard) -> Result<Windows> {
        Ok(match self.parallelism {
            Parallelism::Data => {
                self.data
                    .train_windows(seed, self.batch, step, shard.range(self.batch))
            }
            Parallelism::Sequence => self
                .data
                .train_windows(seed, self.batch, step, 0..self.batch)
                .positions(shard.range(self.data.seq_len()))?,
        })
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

    fn gradients(
        &self,
        model: &LanguageModel<B>,
        windows: Windows,
        device: &B::Device,
        group: &dyn Collective,
        loss_scale: f64,
    ) -> Result<(GradientsParams, PendingTally<B::InnerBackend>)> {
        if self.parallelism == Parallelism::Data || group.size() == 1 {
            return backward_of(self, model, windows, device, loss_scale);
        }
        let mut chain = Chain::new(group, device);
        let logits = model.forward_ids_carried(windows.inputs, windows.count, &mut chain)?;
        let (loss, tally) = self.nll_of(logits, windows.targets, Split::Train, device)?;
        // Every rank scales by the same factor, so the state gradients the
        // ranks exchange are in the same units.
        let grads = chain.backward(scaled(loss, loss_scale), tally.count())?;
        Ok((GradientsParams::from_grads(grads, model), tally.inner()))
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
