//! The deep SSM sequence classifier of the S4 papers:
//!
//!   h = encoder(x)                               tokens → embedding, values → linear
//!   h = h + dropout(mixer(norm(h)))              prenorm blocks (or postnorm:
//!                                                h = norm(h + dropout(mixer(h))))
//!   logits = decoder(pool(norm_f(h)))            mean over the sequence, or the last step
//!   logits = decoder(norm_f(h)[b, t])            or read at chosen steps (sequence tasks)
//!
//! With `tie_embeddings` the decoder of a token model is the embedding
//! table itself, logits = features · Eᵀ without a bias, as the language
//! models of Zoology and mamba_ssm tie their heads.

use burn::module::Module;
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::mixer::{Mixer, MixerConfig, MixerState};
use crate::error::{Error, Result};
use crate::layers::batch_norm::{BatchNorm, MOMENTUM};
use crate::layers::embedding::Embedding;
use crate::layers::linear::{Linear, project};
use crate::layers::norm::{LayerNorm, Norm, RmsNorm};
use crate::ops::{SsmBackend, matmul};
use crate::size::{overflow, sum_of_products};

/// How a sequence is reduced to one vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    /// Mean over the (unpadded) positions.
    #[default]
    Mean,
    /// The last (unpadded) position.
    Last,
}

/// The normalisation of the blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NormKind {
    /// LayerNorm.
    Layer,
    /// RMSNorm.
    Rms,
    /// BatchNorm over the batch's positions, running statistics in
    /// evaluation (S4's LRA recipes; [`BatchNorm`]).
    Batch,
}

/// What the classifier reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputKind {
    /// Token ids in 0..vocab.
    Tokens {
        /// Vocabulary size (including padding).
        vocab: usize,
    },
    /// Real vectors of this many channels per step (e.g. 1 for pixels).
    Values {
        /// Channels per step.
        channels: usize,
    },
}

/// Hyperparameters of a classifier.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassifierConfig {
    /// Input kind.
    pub input: InputKind,
    /// Outputs of the head: classes (at least 2 for a task), or the
    /// channels of a forecast.
    pub classes: usize,
    /// Number of blocks.
    pub n_layers: usize,
    /// The mixer of every block.
    pub mixer: MixerConfig,
    /// Block normalisation.
    pub norm: NormKind,
    /// BatchNorm's weight of each batch in its running statistics (torch's
    /// `momentum`; flax's `momentum` is one minus it). Read only with
    /// [`NormKind::Batch`].
    #[serde(default = "default_batch_norm_momentum")]
    pub batch_norm_momentum: f64,
    /// Normalise before the mixer (else after the residual sum).
    pub prenorm: bool,
    /// Dropout after each mixer.
    pub dropout: f64,
    /// Sequence pooling.
    pub pooling: Pooling,
    /// Standard deviation of the token embedding's initial draw.
    pub embedding_std: f64,
    /// The head is the token embedding's table (logits = features · Eᵀ, no
    /// bias); needs token inputs and as many classes as tokens.
    #[serde(default)]
    pub tie_embeddings: bool,
}

fn default_batch_norm_momentum() -> f64 {
    MOMENTUM
}

/// One residual block.
#[derive(Module, Debug)]
pub struct ClassifierBlock<B: Backend> {
    /// Normalisation.
    pub norm: Norm<B>,
    /// Sequence mixer.
    pub mixer: Mixer<B>,
    /// Dropout on the mixer output.
    pub dropout: Dropout,
}

/// Encodes the input to width d_model.
#[derive(Module, Debug)]
pub enum Encoder<B: Backend> {
    /// Token embedding.
    Tokens(Embedding<B>),
    /// Linear map of real-valued steps.
    Values(Linear<B>),
}

/// The classifier.
#[derive(Module, Debug)]
pub struct Classifier<B: Backend> {
    /// Input encoder.
    pub encoder: Encoder<B>,
    /// Residual blocks.
    pub layers: Vec<ClassifierBlock<B>>,
    /// Final norm (prenorm models).
    pub norm_f: Option<Norm<B>>,
    /// d_model → classes; `None` when the head is the token embedding's
    /// table (`tie_embeddings`).
    pub decoder: Option<Linear<B>>,
    /// Pooling.
    #[module(skip)]
    pub pooling: Pooling,
    /// Prenorm or postnorm.
    #[module(skip)]
    pub prenorm: bool,
}

/// Which outputs the classifier computes.
#[derive(Debug, Clone, Copy)]
pub enum Readout<'a> {
    /// One output per sequence, pooled over its first `lengths[b]` steps.
    Pooled(&'a [usize]),
    /// One output per `(sequence, step)` pair, read from the features of
    /// that step (sequence-to-sequence tasks; causal models see only the
    /// steps up to it).
    Steps(&'a [(usize, usize)]),
}

/// A batch of inputs: either token ids (B, L) or values (B, L, C).
#[derive(Debug, Clone)]
pub enum Inputs<B: Backend> {
    /// Token ids.
    Tokens(Tensor<B, 2, Int>),
    /// Real values.
    Values(Tensor<B, 3>),
}

impl<B: Backend> Inputs<B> {
    fn dims(&self) -> (usize, usize) {
        match self {
            Inputs::Tokens(t) => {
                let [b, l] = t.dims();
                (b, l)
            }
            Inputs::Values(v) => {
                let [b, l, _] = v.dims();
                (b, l)
            }
        }
    }
}

impl ClassifierConfig {
    /// Checks every field (the mixer's too), naming the first one out of its
    /// domain, and that the sizes' product does not overflow.
    pub fn validate(&self) -> Result<()> {
        if self.classes == 0 {
            return Err(Error::config(
                "classes",
                "the head needs at least one output",
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::config("dropout", "must be in [0, 1)"));
        }
        if !(self.batch_norm_momentum > 0.0 && self.batch_norm_momentum <= 1.0) {
            return Err(Error::config(
                "batch_norm_momentum",
                format!("must be in (0, 1], got {}", self.batch_norm_momentum),
            ));
        }
        if self.tie_embeddings {
            match self.input {
                InputKind::Tokens { vocab } if vocab == self.classes => {}
                InputKind::Tokens { vocab } => {
                    return Err(Error::config(
                        "tie_embeddings",
                        format!(
                            "a head tied to the embedding has one output per token: {vocab} tokens, but {} classes",
                            self.classes
                        ),
                    ));
                }
                InputKind::Values { .. } => {
                    return Err(Error::config(
                        "tie_embeddings",
                        "needs token inputs: a model of real-valued steps has no embedding table",
                    ));
                }
            }
        }
        self.mixer.validate()?;
        self.param_count()?;
        Ok(())
    }

    /// The number of parameters, in checked arithmetic (an error naming the
    /// size that overflows).
    pub fn param_count(&self) -> Result<usize> {
        let d = self.mixer.d_model();
        let norm = match self.norm {
            NormKind::Layer | NormKind::Batch => 2 * d,
            NormKind::Rms => d,
        };
        let encoder = match self.input {
            InputKind::Tokens { vocab } => sum_of_products(&[&[vocab, d]]),
            InputKind::Values { channels } => sum_of_products(&[&[channels, d], &[d]]),
        }
        .ok_or_else(|| overflow("d_model"))?;
        let per_layer = self
            .mixer
            .param_count()?
            .checked_add(norm)
            .ok_or_else(|| overflow("d_model"))?;
        let untied = usize::from(!self.tie_embeddings);
        sum_of_products(&[
            &[encoder],
            &[self.n_layers, per_layer],
            &[usize::from(self.prenorm), norm],
            &[untied, d, self.classes],
            &[untied, self.classes],
        ])
        .ok_or_else(|| overflow("n_layers"))
    }

    /// Builds a freshly initialised classifier.
    pub fn init<B: SsmBackend>(
        &self,
        device: &B::Device,
        rng: &mut impl Rng,
    ) -> Result<Classifier<B>> {
        self.validate()?;
        let d = self.mixer.d_model();
        let norm = |device: &B::Device| match self.norm {
            NormKind::Layer => Norm::Layer(LayerNorm::new(d, 1e-5, device)),
            NormKind::Rms => Norm::Rms(RmsNorm::new(d, 1e-5, device)),
            NormKind::Batch => {
                Norm::Batch(BatchNorm::new(d, 1e-5, self.batch_norm_momentum, device))
            }
        };
        let encoder = match self.input {
            InputKind::Tokens { vocab } => Encoder::Tokens(Embedding::with_std(
                vocab,
                d,
                self.embedding_std,
                device,
                rng,
            )),
            InputKind::Values { channels } => {
                Encoder::Values(Linear::new(channels, d, true, device, rng))
            }
        };
        Ok(Classifier {
            encoder,
            layers: (0..self.n_layers)
                .map(|_| {
                    Ok(ClassifierBlock {
                        norm: norm(device),
                        mixer: self.mixer.init(device, rng)?,
                        dropout: DropoutConfig::new(self.dropout).init(),
                    })
                })
                .collect::<Result<_>>()?,
            norm_f: self.prenorm.then(|| norm(device)),
            decoder: (!self.tie_embeddings)
                .then(|| Linear::new(d, self.classes, true, device, rng)),
            pooling: self.pooling,
            prenorm: self.prenorm,
        })
    }
}

impl<B: SsmBackend> Classifier<B> {
    fn encode(&self, inputs: Inputs<B>) -> Result<Tensor<B, 3>> {
        match (&self.encoder, inputs) {
            (Encoder::Tokens(e), Inputs::Tokens(t)) => e.forward(t),
            (Encoder::Values(e), Inputs::Values(v)) => e.forward(v),
            _ => Err(Error::config(
                "input",
                "the inputs are not of the kind this model reads",
            )),
        }
    }

    fn block(
        &self,
        block: &ClassifierBlock<B>,
        h: Tensor<B, 3>,
        mixed: impl FnOnce(Tensor<B, 3>) -> Result<Tensor<B, 3>>,
    ) -> Result<Tensor<B, 3>> {
        if self.prenorm {
            Ok(h.clone() + block.dropout.forward(mixed(block.norm.forward(h)?)?))
        } else {
            block
                .norm
                .forward(h.clone() + block.dropout.forward(mixed(h)?))
        }
    }

    /// Per-step features (B, L, d) before pooling.
    pub fn features(&self, inputs: Inputs<B>) -> Result<Tensor<B, 3>> {
        let mut h = self.encode(inputs)?;
        for block in &self.layers {
            h = self.block(block, h, |x| block.mixer.forward(x))?;
        }
        match &self.norm_f {
            Some(n) => n.forward(h),
            None => Ok(h),
        }
    }

    /// Class logits (N, classes): N = B pooled outputs, or one per listed
    /// step (see [`Readout`]).
    pub fn forward(&self, inputs: Inputs<B>, readout: Readout<'_>) -> Result<Tensor<B, 2>> {
        let (batch, len) = inputs.dims();
        check_readout(readout, batch, len)?;
        let h = self.features(inputs)?;
        self.head(self.read(h, readout)?)
    }

    /// Logits (…, classes) of features (…, d): the decoder, or the token
    /// embedding's table when the head is tied to it.
    pub fn head<const D: usize>(&self, x: Tensor<B, D>) -> Result<Tensor<B, D>> {
        match (&self.decoder, &self.encoder) {
            (Some(decoder), _) => decoder.forward(x),
            (None, Encoder::Tokens(e)) => project(x, e.weight.val(), None),
            (None, Encoder::Values(_)) => Err(Error::config(
                "tie_embeddings",
                "a model of real-valued steps has no embedding table to tie its head to",
            )),
        }
    }

    /// Logits computed recurrently, one step at a time (every mixer in its
    /// recurrent view); equal to [`Self::forward`] for causal models.
    pub fn forward_recurrent(
        &self,
        inputs: Inputs<B>,
        readout: Readout<'_>,
    ) -> Result<Tensor<B, 2>> {
        let (batch, len) = inputs.dims();
        check_readout(readout, batch, len)?;
        let mut h = self.encode(inputs)?;
        for block in &self.layers {
            let mut state: MixerState<B> = block.mixer.initial_state(batch)?;
            h = self.block(block, h, |x| {
                let mut ys = Vec::with_capacity(len);
                for t in 0..len {
                    let (y, next) = block
                        .mixer
                        .forward_with_state(&state, x.clone().narrow(1, t, 1))?;
                    ys.push(y);
                    state = next;
                }
                Ok(Tensor::cat(ys, 1))
            })?;
        }
        let h = match &self.norm_f {
            Some(n) => n.forward(h)?,
            None => h,
        };
        self.head(self.read(h, readout)?)
    }

    fn read(&self, h: Tensor<B, 3>, readout: Readout<'_>) -> Result<Tensor<B, 2>> {
        match readout {
            Readout::Pooled(lengths) => self.pool(h, lengths),
            Readout::Steps(steps) => {
                let [batch, len, d] = h.dims();
                let rows: Vec<i64> = steps.iter().map(|&(b, t)| (b * len + t) as i64).collect();
                let rows = Tensor::<B, 1, Int>::from_data(
                    TensorData::new(rows, [steps.len()]),
                    &h.device(),
                );
                Ok(h.reshape([batch * len, d]).select(0, rows))
            }
        }
    }

    fn pool(&self, h: Tensor<B, 3>, lengths: &[usize]) -> Result<Tensor<B, 2>> {
        let [batch, len, d] = h.dims();
        let device = h.device();
        match self.pooling {
            Pooling::Mean => {
                // Each sequence's weights (1/l on its first l steps) times
                // its steps: one batched product each way, where a masked
                // sum's backward broadcasts ∂ over every step.
                let weights: Vec<f32> = lengths
                    .iter()
                    .flat_map(|&l| (0..len).map(move |t| if t < l { 1.0 / l as f32 } else { 0.0 }))
                    .collect();
                let weights = Tensor::<B, 3>::from_data(
                    TensorData::new(weights, [batch, 1, len]),
                    (&device, h.dtype()),
                );
                Ok(matmul(weights, h)?.reshape([batch, d]))
            }
            Pooling::Last => {
                let idx: Vec<i64> = lengths.iter().map(|&l| (l - 1) as i64).collect();
                let idx = Tensor::<B, 1, Int>::from_data(TensorData::new(idx, [batch]), &device);
                let idx = idx.reshape([batch, 1, 1]).repeat_dim(2, d);
                Ok(h.gather(1, idx).reshape([batch, d]))
            }
        }
    }
}

fn check_readout(readout: Readout<'_>, batch: usize, len: usize) -> Result<()> {
    match readout {
        Readout::Pooled(lengths) => {
            if lengths.len() != batch || lengths.iter().any(|&l| l == 0 || l > len) {
                return Err(Error::config(
                    "lengths",
                    format!("need {batch} lengths in 1..={len}"),
                ));
            }
        }
        Readout::Steps(steps) => {
            if steps.is_empty() || steps.iter().any(|&(b, t)| b >= batch || t >= len) {
                return Err(Error::config(
                    "steps",
                    format!("need at least one (sequence, step) pair within ({batch}, {len})"),
                ));
            }
        }
    }
    Ok(())
}
