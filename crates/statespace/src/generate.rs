//! Autoregressive generation with a language model in recurrent mode: the
//! prompt is prefilled in parallel (chunked scan), then one step per token,
//! so memory does not grow with the length generated.

use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use crate::decode::{FusedDecoder, WeightFormat};
use crate::error::{Error, Result};
use crate::io::HostTensor;
use crate::models::{LanguageModel, LmState};
use crate::ops::SsmBackend;

/// How the next token is chosen from the logits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Sampling {
    /// Softmax temperature; 0 picks the most likely token (greedy).
    pub temperature: f64,
    /// Keep only the k most likely tokens.
    pub top_k: Option<usize>,
    /// Keep the smallest set of tokens whose probability reaches p.
    pub top_p: Option<f64>,
    /// Divide positive (multiply negative) logits of tokens already seen
    /// by this factor (1 = off), as in transformers.
    pub repetition_penalty: f64,
    /// Seed of the sampler.
    pub seed: u64,
}

impl Default for Sampling {
    fn default() -> Self {
        Self {
            temperature: 0.0,
            top_k: None,
            top_p: None,
            repetition_penalty: 1.0,
            seed: 0,
        }
    }
}

impl Sampling {
    /// Checks every field, naming the first one out of its domain.
    pub fn validate(&self) -> Result<()> {
        if !(self.temperature >= 0.0 && self.temperature.is_finite()) {
            return Err(Error::config("temperature", "must be finite and ≥ 0"));
        }
        if self.top_k == Some(0) {
            return Err(Error::config("top_k", "must be at least 1"));
        }
        if let Some(p) = self.top_p
            && !(p > 0.0 && p <= 1.0)
        {
            return Err(Error::config("top_p", "must be in (0, 1]"));
        }
        if !(self.repetition_penalty > 0.0 && self.repetition_penalty.is_finite()) {
            return Err(Error::config(
                "repetition_penalty",
                "must be finite and > 0",
            ));
        }
        Ok(())
    }
}

/// Picks the next token from `logits` given the tokens so far.
pub fn sample(logits: &[f64], history: &[i64], sampling: &Sampling, rng: &mut impl Rng) -> i64 {
    let mut scores = logits.to_vec();
    if sampling.repetition_penalty != 1.0 {
        for &t in history {
            if let Some(s) = scores.get_mut(t as usize) {
                *s = if *s > 0.0 {
                    *s / sampling.repetition_penalty
                } else {
                    *s * sampling.repetition_penalty
                };
            }
        }
    }
    let best = |s: &[f64]| {
        s.iter()
            .enumerate()
            .fold((0usize, f64::NEG_INFINITY), |(bi, bv), (i, &v)| {
                if v > bv { (i, v) } else { (bi, bv) }
            })
            .0 as i64
    };
    if sampling.temperature == 0.0 {
        return best(&scores);
    }
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    if let Some(k) = sampling.top_k {
        order.truncate(k.min(order.len()));
    }
    let top = scores[order[0]];
    let mut probs: Vec<f64> = order
        .iter()
        .map(|&i| ((scores[i] - top) / sampling.temperature).exp())
        .collect();
    let total: f64 = probs.iter().sum();
    probs.iter_mut().for_each(|p| *p /= total);
    if let Some(p) = sampling.top_p {
        let mut acc = 0.0;
        let keep = probs.iter().position(|&q| {
            acc += q;
            acc >= p
        });
        let keep = keep.map_or(probs.len(), |i| i + 1);
        order.truncate(keep);
        probs.truncate(keep);
        let total: f64 = probs.iter().sum();
        probs.iter_mut().for_each(|q| *q /= total);
    }
    let mut u: f64 = rng.random();
    for (&i, &p) in order.iter().zip(&probs) {
        u -= p;
        if u <= 0.0 {
            return i as i64;
        }
    }
    order[order.len() - 1] as i64
}

/// How prefill and decode run: fused loops on the CPU backend in f32; on a
/// CUDA device, for Mamba blocks, a parallel prefill then fused GPU steps
/// replayed as a CUDA graph; else the model's own tensor ops, layer by
/// layer.
enum Decoding<B: SsmBackend> {
    Fused(Box<FusedDecoder>),
    #[cfg(feature = "cuda")]
    Gpu(Box<crate::decode::gpu::GpuDecoder>),
    Layered(LmState<B>),
}

/// Generation in progress for one sequence.
pub struct Generator<'a, B: SsmBackend> {
    model: &'a LanguageModel<B>,
    decoding: Decoding<B>,
    logits: Vec<f64>,
    /// Tokens that may be sampled: the first `vocabulary` logits.
    vocabulary: usize,
    history: Vec<i64>,
    sampling: Sampling,
    rng: ChaCha8Rng,
    device: B::Device,
}

impl<'a, B: SsmBackend> Generator<'a, B> {
    /// Prefills `prompt` (at least one token) in parallel chunks of
    /// `prefill_chunk` tokens.
    pub fn new(
        model: &'a LanguageModel<B>,
        prompt: &[i64],
        sampling: Sampling,
        prefill_chunk: usize,
        device: &B::Device,
    ) -> Result<Self> {
        Self::with_weights(
            model,
            prompt,
            sampling,
            prefill_chunk,
            WeightFormat::F32,
            device,
        )
    }

    /// [`Self::new`] with the fused decoder's projections stored as
    /// `weights` ([`WeightFormat`]). A 16-bit format fails unless the model
    /// runs on a fused decoder (Mamba, Mamba-2 and Mamba-3 blocks on the
    /// CPU backend; Mamba blocks on a CUDA device): nothing else would read
    /// the 16-bit copy.
    pub fn with_weights(
        model: &'a LanguageModel<B>,
        prompt: &[i64],
        sampling: Sampling,
        prefill_chunk: usize,
        weights: WeightFormat,
        device: &B::Device,
    ) -> Result<Self> {
        sampling.validate()?;
        if prompt.is_empty() {
            return Err(Error::config("prompt", "needs at least one token"));
        }
        let fused = FusedDecoder::with_weights(model, weights);
        #[cfg(feature = "cuda")]
        let gpu = match (&fused, crate::decode::gpu::cuda_ordinal(model)) {
            (None, Some(ordinal)) => crate::decode::gpu::GpuDecoder::new(
                model,
                weights,
                crate::decode::gpu::HalfProducts::default(),
                1,
                ordinal,
            )?,
            _ => None,
        };
        #[cfg(not(feature = "cuda"))]
        let gpu: Option<std::convert::Infallible> = None;
        if fused.is_none() && gpu.is_none() && weights != WeightFormat::F32 {
            return Err(Error::config(
                "weights",
                format!(
                    "{weights} weights need a fused decoder: a model of Mamba, Mamba-2 or Mamba-3 blocks with f32 parameters on the CPU backend, or of Mamba blocks on a CUDA device"
                ),
            ));
        }
        let (decoding, logits) = match fused {
            Some(mut fused) => {
                let mut logits = Vec::new();
                for chunk in prompt.chunks(prefill_chunk.max(1)) {
                    logits = fused
                        .prefill(chunk)?
                        .iter()
                        .map(|&v| f64::from(v))
                        .collect();
                }
                (Decoding::Fused(Box::new(fused)), logits)
            }
            None => {
                let (logits, state) = Self::parallel_prefill(model, prompt, prefill_chunk, device)?;
                match gpu {
                    #[cfg(feature = "cuda")]
                    Some(mut gpu) => {
                        gpu.load_state(&state)?;
                        (Decoding::Gpu(Box::new(gpu)), logits)
                    }
                    #[cfg(not(feature = "cuda"))]
                    Some(never) => match never {},
                    None => (Decoding::Layered(state), logits),
                }
            }
        };
        Ok(Self {
            model,
            decoding,
            vocabulary: logits.len(),
            logits,
            history: prompt.to_vec(),
            rng: ChaCha8Rng::seed_from_u64(sampling.seed),
            sampling,
            device: device.clone(),
        })
    }

    /// The model's own parallel prefill of `prompt` in chunks: the logits
    /// after its last token and the state.
    fn parallel_prefill(
        model: &LanguageModel<B>,
        prompt: &[i64],
        prefill_chunk: usize,
        device: &B::Device,
    ) -> Result<(Vec<f64>, LmState<B>)> {
        let mut state = model.initial_state(1)?;
        let mut last = None;
        for chunk in prompt.chunks(prefill_chunk.max(1)) {
            let tokens = Tensor::<B, 2, Int>::from_data(
                TensorData::new(chunk.to_vec(), [1, chunk.len()]),
                device,
            );
            let (logits, next) = model.prefill(&state, tokens)?;
            state = next;
            last = Some(logits);
        }
        let logits = HostTensor::from_tensor(&last.expect("non-empty prompt")).data;
        Ok((logits, state))
    }

    /// Samples only among the first `vocabulary` tokens: a state-spaces
    /// checkpoint pads its embedding rows to a multiple (mamba_ssm's
    /// `pad_vocab_size_multiple`) and, as mamba_ssm's own decoding does,
    /// the padding rows are never chosen. Fails unless 1 ≤ `vocabulary` ≤
    /// the model's (padded) vocabulary.
    pub fn with_vocabulary(mut self, vocabulary: usize) -> Result<Self> {
        if vocabulary == 0 || vocabulary > self.logits.len() {
            return Err(Error::config(
                "vocab_size",
                format!(
                    "{vocabulary} tokens to sample from, but the model has {}",
                    self.logits.len()
                ),
            ));
        }
        self.vocabulary = vocabulary;
        Ok(self)
    }

    /// Chooses the next token and advances the state by it.
    pub fn next_token(&mut self) -> Result<i64> {
        let logits = &self.logits[..self.vocabulary.min(self.logits.len())];
        let token = sample(logits, &self.history, &self.sampling, &mut self.rng);
        self.history.push(token);
        match &mut self.decoding {
            Decoding::Fused(fused) => {
                let logits = fused.step(token)?;
                self.logits.clear();
                self.logits.extend(logits.iter().map(|&v| f64::from(v)));
            }
            #[cfg(feature = "cuda")]
            Decoding::Gpu(gpu) => {
                let logits = gpu.step(&[token])?;
                self.logits.clear();
                self.logits.extend(logits.iter().map(|&v| f64::from(v)));
            }
            Decoding::Layered(state) => {
                let input =
                    Tensor::<B, 1, Int>::from_data(TensorData::new(vec![token], [1]), &self.device);
                let (logits, next) = self.model.step(state, input)?;
                *state = next;
                self.logits = HostTensor::from_tensor(&logits).data;
            }
        }
        Ok(token)
    }

    /// Every token so far, prompt first.
    pub fn tokens(&self) -> &[i64] {
        &self.history
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_rules() {
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let logits = [0.1, 3.0, 2.9, -1.0];
        assert_eq!(sample(&logits, &[], &Sampling::default(), &mut rng), 1);
        // The penalty demotes a seen token below its neighbour.
        let penal = Sampling {
            repetition_penalty: 2.0,
            ..Sampling::default()
        };
        assert_eq!(sample(&logits, &[1], &penal, &mut rng), 2);
        // top_k = 1 at any temperature is greedy.
        let k1 = Sampling {
            temperature: 5.0,
            top_k: Some(1),
            ..Sampling::default()
        };
        assert!((0..50).all(|_| sample(&logits, &[], &k1, &mut rng) == 1));
        // top_p keeps only the two leading tokens here.
        let p = Sampling {
            temperature: 1.0,
            top_p: Some(0.9),
            ..Sampling::default()
        };
        assert!((0..200).all(|_| matches!(sample(&logits, &[], &p, &mut rng), 1 | 2)));
    }
}
