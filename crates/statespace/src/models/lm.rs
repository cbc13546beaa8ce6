//! A language model of residual mixer blocks (Mamba LM layout):
//!
//!   h = embeddings\[tokens\]
//!   h = h + mixer_i(rmsnorm_i(h))      for each block i
//!   logits = rmsnorm_f(h) · Wᵀ         W = lm_head, or the embeddings when tied
//!
//! Parameter names follow transformers' `Mamba(2)ForCausalLM` without the
//! `backbone.` prefix: `embeddings.weight`, `layers.{i}.norm.weight`,
//! `layers.{i}.mixer.*`, `norm_f.weight`, `lm_head.weight`.

use std::borrow::Cow;

use burn::module::Module;

use crate::layers::embedding::Embedding;
use crate::layers::linear::Linear;
use crate::ops::support::primitive::with_dtype;
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::mixer::{Mixer, MixerConfig, MixerState};
use super::precision::{Precision, cast_view};
use crate::error::{Error, Result};
use crate::layers::norm::RmsNorm;
use crate::ops::{SsmBackend, mean_cross_entropy};
use crate::size::{overflow, sum_of_products};

/// The standard deviation of a new model's embeddings: mamba_ssm's
/// `initializer_range` (its `MambaLMHeadModel` draws N(0, 0.02²); N(0, 1)
/// with a tied head starts from logits of norm √d_model).
const EMBEDDING_STD: f64 = 0.02;

/// Hyperparameters of a language model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LmConfig {
    /// Rows of the embedding (the vocabulary, padded).
    pub vocab_size: usize,
    /// Number of residual blocks.
    pub n_layer: usize,
    /// The mixer of every block.
    pub mixer: MixerConfig,
    /// ε of the RMSNorms.
    pub norm_eps: f64,
    /// Share the embedding matrix with the output head.
    pub tie_embeddings: bool,
}

impl LmConfig {
    /// Checks every field (the mixer's too), naming the first one out of its
    /// domain, and that the sizes' product does not overflow.
    pub fn validate(&self) -> Result<()> {
        if self.vocab_size == 0 {
            return Err(Error::config("vocab_size", "must be at least 1"));
        }
        if self.n_layer == 0 {
            return Err(Error::config("n_layer", "must be at least 1"));
        }
        if !(self.norm_eps.is_finite() && self.norm_eps > 0.0) {
            return Err(Error::config(
                "layer_norm_epsilon",
                format!("must be finite and positive, got {}", self.norm_eps),
            ));
        }
        self.mixer.validate()?;
        if !self.mixer.is_causal() {
            return Err(Error::config(
                "mixer",
                "a language model needs a causal mixer (Hydra and bidirectional S4 see the tokens they predict)",
            ));
        }
        self.param_count()?;
        Ok(())
    }

    /// The number of parameters, in checked arithmetic (an error naming the
    /// size that overflows).
    pub fn param_count(&self) -> Result<usize> {
        let d = self.d_model();
        let head = usize::from(!self.tie_embeddings);
        let per_layer = self
            .mixer
            .param_count()?
            .checked_add(d)
            .ok_or_else(|| overflow("d_model"))?;
        sum_of_products(&[
            &[self.vocab_size, d],
            &[self.n_layer, per_layer],
            &[d],
            &[head, self.vocab_size, d],
        ])
        .ok_or_else(|| overflow("vocab_size"))
    }

    /// Model width.
    pub fn d_model(&self) -> usize {
        self.mixer.d_model()
    }

    /// A freshly initialised model, every random value drawn from `rng`.
    pub fn init<B: SsmBackend>(
        &self,
        device: &B::Device,
        rng: &mut impl rand::Rng,
    ) -> Result<LanguageModel<B>> {
        self.validate()?;
        let d = self.d_model();
        Ok(LanguageModel {
            embeddings: Embedding::with_std(self.vocab_size, d, EMBEDDING_STD, device, rng),
            layers: (0..self.n_layer)
                .map(|_| {
                    Ok(Block {
                        norm: RmsNorm::new(d, self.norm_eps, device),
                        mixer: self.mixer.init(device, rng)?,
                    })
                })
                .collect::<Result<_>>()?,
            norm_f: RmsNorm::new(d, self.norm_eps, device),
            lm_head: (!self.tie_embeddings)
                .then(|| Linear::new(d, self.vocab_size, false, device, rng)),
            precision: Precision::F32,
        })
    }
}

/// One residual block: h + mixer(norm(h)).
#[derive(Module, Debug)]
pub struct Block<B: Backend> {
    /// Pre-norm.
    pub norm: RmsNorm<B>,
    /// Sequence mixer.
    pub mixer: Mixer<B>,
}

/// The language model.
#[derive(Module, Debug)]
pub struct LanguageModel<B: Backend> {
    /// Token embeddings, (vocab, d_model).
    pub embeddings: Embedding<B>,
    /// Residual blocks.
    pub layers: Vec<Block<B>>,
    /// Final norm.
    pub norm_f: RmsNorm<B>,
    /// Output head (vocab, d_model); `None` when tied to the embeddings.
    pub lm_head: Option<Linear<B>>,
    /// The arithmetic of the blocks and the head (a run's setting, not a
    /// weight: checkpoints do not hold it).
    #[module(skip)]
    pub precision: Precision,
}

/// Where the blocks of [`LanguageModel::forward_ids_carried`] get the
/// state they start from and leave the state they end with: called block
/// after block, first to last.
pub trait StateCarry<B: Backend> {
    /// The state the next block starts from, given its zero state (the
    /// start of a sequence).
    fn incoming(&mut self, zero: MixerState<B>) -> Result<MixerState<B>>;
    /// Receives the state the block ends with.
    fn outgoing(&mut self, state: &MixerState<B>) -> Result<()>;
}

/// The recurrent state of a language model: one per block.
#[derive(Clone)]
pub struct LmState<B: Backend> {
    /// Per-block mixer states.
    pub layers: Vec<MixerState<B>>,
}

impl<B: Backend> LanguageModel<B> {
    /// The model running its blocks and head in `precision` ([`Precision`]);
    /// the parameters are unchanged. Under mixed precision the logits it
    /// returns are 16-bit, as the head computes them: the loss
    /// ([`mean_cross_entropy`]) reads them as f32 and returns their
    /// gradient in their type, without an f32 copy of the (B, L, vocab)
    /// logits.
    pub fn with_precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// `block`'s mixer as this model's precision runs it: itself, or its
    /// cast view under mixed precision.
    fn mixer_view<'a>(&self, block: &'a Block<B>) -> Cow<'a, Mixer<B>> {
        match self.precision.compute_dtype() {
            None => Cow::Borrowed(&block.mixer),
            Some(dtype) => Cow::Owned(block.mixer.cast_view(dtype)),
        }
    }

    /// `x` in the type the mixers run in.
    fn to_compute<const D: usize>(&self, x: Tensor<B, D>) -> Tensor<B, D> {
        match self.precision.compute_dtype() {
            Some(dtype) => with_dtype(x, dtype.into()),
            None => x,
        }
    }
}

/// The residual stream `h` plus a block's output `y`, in h's type (y is
/// 16-bit under mixed precision; the stream stays f32).
fn add_to_stream<B: Backend>(h: Tensor<B, 3>, y: Tensor<B, 3>) -> Tensor<B, 3> {
    let dtype = h.dtype();
    h + with_dtype(y, dtype)
}

impl<B: SsmBackend> LanguageModel<B> {
    /// Vocabulary rows.
    pub fn vocab_size(&self) -> usize {
        self.embeddings.weight.val().dims()[0]
    }

    /// The zero state for `batch` sequences (in the types the model's
    /// precision runs the mixers in).
    pub fn initial_state(&self, batch: usize) -> Result<LmState<B>> {
        Ok(LmState {
            layers: self
                .layers
                .iter()
                .map(|b| self.mixer_view(b).initial_state(batch))
                .collect::<Result<_>>()?,
        })
    }

    fn check_tokens(&self, tokens: &Tensor<B, 2, Int>) -> Result<()> {
        let vocab = self.vocab_size() as i64;
        // One host read for both bounds (each read waits for the device).
        let bounds = Tensor::cat(vec![tokens.clone().max(), tokens.clone().min()], 0).into_data();
        let bounds: Vec<i64> = bounds.iter::<i64>().collect();
        let (max, min) = (bounds[0], bounds[1]);
        if min < 0 || max >= vocab {
            return Err(Error::config(
                "tokens",
                format!("token ids must lie in 0..{vocab}, got {min}..={max}"),
            ));
        }
        Ok(())
    }

    /// The head's logits of the last block's output h: in h's type, or
    /// under mixed precision in the mixers' 16-bit type, the head's product
    /// as autocast returns it ([`LanguageModel::with_precision`]).
    fn logits(&self, h: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let h = self.norm_f.forward(h)?;
        let logits = match (&self.lm_head, self.precision.compute_dtype()) {
            (Some(head), None) => head.forward(h)?,
            (Some(head), Some(compute)) => {
                cast_view(head.clone(), compute, &[]).forward(self.to_compute(h))?
            }
            (None, _) => crate::layers::linear::project(
                self.to_compute(h),
                self.to_compute(self.embeddings.weight.val()),
                None,
            )?,
        };
        Ok(logits)
    }

    /// Logits (B, L, vocab) of tokens (B, L), in parallel. The ids are
    /// checked against the vocabulary with one read from the device; ids
    /// that are on the host go through [`LanguageModel::forward_ids`]
    /// without it.
    pub fn forward(&self, tokens: Tensor<B, 2, Int>) -> Result<Tensor<B, 3>> {
        self.check_tokens(&tokens)?;
        self.forward_checked(tokens)
    }

    /// Logits (B, L, vocab) of host token ids, `ids` row-major (B, L) with
    /// `batch` rows; the ids are checked on the host, so the call queues its
    /// kernels without waiting for the device.
    pub fn forward_ids(&self, ids: Vec<i64>, batch: usize) -> Result<Tensor<B, 3>> {
        let tokens = self.tokens_from_ids(ids, batch)?;
        self.forward_checked(tokens)
    }

    /// Logits (B, L, vocab) of host token ids, as [`LanguageModel::forward_ids`],
    /// for a part of longer sequences: each block starts from the state
    /// `carry` gives it and hands `carry` the state it ends with, so the
    /// recurrence crosses the parts' boundaries (sequence parallelism:
    /// consecutive parts on consecutive ranks). Differentiable in the
    /// states `carry` gives.
    pub fn forward_ids_carried(
        &self,
        ids: Vec<i64>,
        batch: usize,
        carry: &mut dyn StateCarry<B>,
    ) -> Result<Tensor<B, 3>> {
        let tokens = self.tokens_from_ids(ids, batch)?;
        let mut h = self.embeddings.forward(tokens)?;
        for block in &self.layers {
            let mixer = self.mixer_view(block);
            let start = carry.incoming(mixer.initial_state(batch)?)?;
            let x = self.to_compute(block.norm.forward(h.clone())?);
            let (y, end) = mixer.forward_with_state(&start, x)?;
            carry.outgoing(&end)?;
            h = add_to_stream(h, y);
        }
        self.logits(h)
    }

    /// Host token ids, row-major (B, L) with `batch` rows, checked against
    /// the vocabulary, as a device tensor.
    fn tokens_from_ids(&self, ids: Vec<i64>, batch: usize) -> Result<Tensor<B, 2, Int>> {
        let vocab = self.vocab_size() as i64;
        if batch == 0 || ids.is_empty() || !ids.len().is_multiple_of(batch) {
            return Err(Error::config(
                "tokens",
                format!("{} ids do not make {batch} equal rows", ids.len()),
            ));
        }
        if let Some(bad) = ids.iter().find(|&&t| !(0..vocab).contains(&t)) {
            return Err(Error::config(
                "tokens",
                format!("token ids must lie in 0..{vocab}, got {bad}"),
            ));
        }
        let len = ids.len() / batch;
        let device = self.embeddings.weight.val().device();
        Ok(Tensor::from_data(
            TensorData::new(ids, [batch, len]),
            &device,
        ))
    }

    /// [`LanguageModel::forward`] of ids already checked.
    fn forward_checked(&self, tokens: Tensor<B, 2, Int>) -> Result<Tensor<B, 3>> {
        let mut h = self.embeddings.forward(tokens)?;
        for block in &self.layers {
            let x = self.to_compute(block.norm.forward(h.clone())?);
            h = add_to_stream(h, self.mixer_view(block).forward(x)?);
        }
        self.logits(h)
    }

    /// The summed next-token negative log-likelihood (nats) of `ids` (one
    /// sequence, at least 2 tokens): every token after the first scored
    /// with the whole history before it, over all rows of the head, the
    /// sequence read in chunks of `chunk` tokens that carry the recurrent
    /// state (exact at any length; memory grows with `chunk`, not with the
    /// text). Returns (nats, targets).
    pub fn sequence_nll(&self, ids: &[i64], chunk: usize) -> Result<(f64, usize)> {
        if ids.len() < 2 {
            return Err(Error::config(
                "text",
                format!("needs at least 2 tokens to score, got {}", ids.len()),
            ));
        }
        if chunk == 0 {
            return Err(Error::config("chunk", "must be at least 1"));
        }
        let device = self.embeddings.weight.val().device();
        let mut state = self.initial_state(1)?;
        let mut nats = 0.0;
        let targets = ids.len() - 1;
        for start in (0..targets).step_by(chunk) {
            let len = chunk.min(targets - start);
            let tokens = Tensor::<B, 2, Int>::from_data(
                TensorData::new(ids[start..start + len].to_vec(), [1, len]),
                &device,
            );
            let next = Tensor::<B, 1, Int>::from_data(
                TensorData::new(ids[start + 1..start + len + 1].to_vec(), [len]),
                &device,
            );
            let (logits, after) = self.forward_with_state(&state, tokens)?;
            state = after;
            let vocab = logits.dims()[2];
            let mean = mean_cross_entropy(logits.reshape([len, vocab]), next)?;
            let mean: f64 = burn::tensor::ElementConversion::elem(mean.into_scalar());
            nats += mean * len as f64;
        }
        Ok((nats, targets))
    }

    /// Logits of a chunk of tokens (B, L) continuing from `state`; the state after it.
    pub fn forward_with_state(
        &self,
        state: &LmState<B>,
        tokens: Tensor<B, 2, Int>,
    ) -> Result<(Tensor<B, 3>, LmState<B>)> {
        let (h, next) = self.hidden_with_state(state, tokens)?;
        Ok((self.logits(h)?, next))
    }

    /// Prompt processing: a chunk of tokens (B, L) from `state`, returning
    /// only the logits of the chunk's last position, (B, vocab), and the
    /// state after it. Skips the head on the other L − 1 positions.
    pub fn prefill(
        &self,
        state: &LmState<B>,
        tokens: Tensor<B, 2, Int>,
    ) -> Result<(Tensor<B, 2>, LmState<B>)> {
        let (h, next) = self.hidden_with_state(state, tokens)?;
        let len = h.dims()[1];
        let logits = self.logits(h.narrow(1, len - 1, 1))?;
        Ok((logits.squeeze_dim::<2>(1), next))
    }

    /// The last block's output (B, L, d) of a chunk from `state`, and the state after it.
    fn hidden_with_state(
        &self,
        state: &LmState<B>,
        tokens: Tensor<B, 2, Int>,
    ) -> Result<(Tensor<B, 3>, LmState<B>)> {
        self.check_tokens(&tokens)?;
        if tokens.dims()[1] == 0 {
            return Err(Error::config("tokens", "a chunk needs at least one token"));
        }
        if state.layers.len() != self.layers.len() {
            return Err(Error::config(
                "state",
                format!(
                    "{} layer states for {} layers",
                    state.layers.len(),
                    self.layers.len()
                ),
            ));
        }
        let mut h = self.embeddings.forward(tokens)?;
        let mut next = Vec::with_capacity(self.layers.len());
        for (block, s) in self.layers.iter().zip(&state.layers) {
            let x = self.to_compute(block.norm.forward(h.clone())?);
            let (y, s) = self.mixer_view(block).forward_with_state(s, x)?;
            h = add_to_stream(h, y);
            next.push(s);
        }
        Ok((h, LmState { layers: next }))
    }

    /// One token per sequence, (B): logits (B, vocab) and the next state.
    pub fn step(
        &self,
        state: &LmState<B>,
        tokens: Tensor<B, 1, Int>,
    ) -> Result<(Tensor<B, 2>, LmState<B>)> {
        let (logits, next) = self.forward_with_state(state, tokens.unsqueeze_dim::<2>(1))?;
        Ok((logits.squeeze_dim::<2>(1), next))
    }
}
