//! Fused one-token decoding of Mamba and Mamba-2 language models on the CPU.
//!
//! A decode step of a 130m model is a few dozen matrix–vector products and
//! a few thousand scalar updates; run as burn tensor ops it spends half its
//! time dispatching them. [`FusedDecoder`] runs the same step as plain loops
//! over the model's own f32 storage (read in place, not copied), with the
//! products split across the rayon pool so they stream the weights at
//! memory bandwidth. It reproduces [`LanguageModel::step`] to float
//! rounding (tested), and is used by [`crate::generate::Generator`]
//! whenever the model lives on the CPU backend in f32.

mod kernels;
mod mamba;
mod mamba2;
mod shared;

use burn::tensor::backend::Backend;

use crate::error::{Error, Result};
use crate::models::{LanguageModel, LmState, Mixer, MixerState};
use kernels::{gemv, rms_norm};
use mamba::MambaStep;
use mamba2::Mamba2Step;
use shared::Shared;

/// One block's mixer, fused.
enum FusedMixer {
    Mamba(Box<MambaStep>),
    Mamba2(Box<Mamba2Step>),
}

/// A block: its pre-norm weight and ε, and the mixer.
struct FusedBlock {
    norm: Shared,
    eps: f32,
    mixer: FusedMixer,
}

/// A Mamba / Mamba-2 language model decoding one token at a time, batch 1,
/// on host f32 memory shared with the model it was built from.
pub struct FusedDecoder {
    embeddings: Shared,
    blocks: Vec<FusedBlock>,
    norm_f: Shared,
    eps_f: f32,
    /// (vocab, d_model): the head, or the embeddings when tied.
    head: Shared,
    d_model: usize,
    // Scratch.
    residual: Vec<f32>,
    normed: Vec<f32>,
    mixed: Vec<f32>,
    logits: Vec<f32>,
}

impl FusedDecoder {
    /// The fused form of `model`, or `None` when it cannot be fused: a
    /// backend other than the CPU's, weights not in f32, or a block that is
    /// not Mamba / Mamba-2. The state starts at zero (see [`Self::load_state`]).
    pub fn new<B: Backend>(model: &LanguageModel<B>) -> Option<Self> {
        let blocks = model
            .layers
            .iter()
            .map(|block| {
                let mixer = match &block.mixer {
                    Mixer::Mamba(m) => FusedMixer::Mamba(Box::new(MambaStep::new(m)?)),
                    Mixer::Mamba2(m) => FusedMixer::Mamba2(Box::new(Mamba2Step::new(m)?)),
                    Mixer::S4(_) => return None,
                };
                Some(FusedBlock {
                    norm: Shared::of(block.norm.weight.val())?,
                    eps: block.norm.eps as f32,
                    mixer,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        let [vocab, d_model] = model.embeddings.weight.val().dims();
        let head = match &model.lm_head {
            Some(head) => head.weight.val(),
            None => model.embeddings.weight.val(),
        };
        Some(Self {
            embeddings: Shared::of(model.embeddings.weight.val())?,
            blocks,
            norm_f: Shared::of(model.norm_f.weight.val())?,
            eps_f: model.norm_f.eps as f32,
            head: Shared::of(head)?,
            d_model,
            residual: vec![0.0; d_model],
            normed: vec![0.0; d_model],
            mixed: vec![0.0; d_model],
            logits: vec![0.0; vocab],
        })
    }

    /// Continues from sequence 0 of `state` (a state of batch 1, e.g. after
    /// a parallel prefill with [`LanguageModel::prefill`]).
    pub fn load_state<B: Backend>(&mut self, state: &LmState<B>) -> Result<()> {
        if state.layers.len() != self.blocks.len() {
            return Err(Error::config(
                "state",
                format!(
                    "{} layer states for {} layers",
                    state.layers.len(),
                    self.blocks.len()
                ),
            ));
        }
        for (block, s) in self.blocks.iter_mut().zip(&state.layers) {
            match (&mut block.mixer, s) {
                (FusedMixer::Mamba(m), MixerState::Mamba(s)) => m.load_state(s)?,
                (FusedMixer::Mamba2(m), MixerState::Mamba2(s)) => m.load_state(s)?,
                _ => {
                    return Err(Error::config(
                        "state",
                        "the state belongs to another kind of mixer",
                    ));
                }
            }
        }
        Ok(())
    }

    /// Feeds `token` and returns the logits (vocab) of the next one.
    pub fn step(&mut self, token: i64) -> Result<&[f32]> {
        let vocab = self.logits.len();
        let row = usize::try_from(token)
            .ok()
            .filter(|&t| t < vocab)
            .ok_or_else(|| {
                Error::config(
                    "tokens",
                    format!("token ids must lie in 0..{vocab}, got {token}"),
                )
            })?;
        let d = self.d_model;
        self.residual
            .copy_from_slice(&self.embeddings.slice()[row * d..(row + 1) * d]);
        for block in &mut self.blocks {
            rms_norm(
                &self.residual,
                block.norm.slice(),
                block.eps,
                &mut self.normed,
            );
            match &mut block.mixer {
                FusedMixer::Mamba(m) => m.step(&self.normed, &mut self.mixed),
                FusedMixer::Mamba2(m) => m.step(&self.normed, &mut self.mixed),
            }
            self.residual
                .iter_mut()
                .zip(&self.mixed)
                .for_each(|(r, m)| *r += m);
        }
        rms_norm(
            &self.residual,
            self.norm_f.slice(),
            self.eps_f,
            &mut self.normed,
        );
        gemv(self.head.slice(), &self.normed, None, &mut self.logits);
        Ok(&self.logits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::{Int, Tensor, TensorData};

    use crate::layers::mamba::MambaConfig;
    use crate::layers::mamba2::Mamba2Config;
    use crate::models::{LmConfig, MixerConfig};

    type B = Flex;

    fn models() -> Vec<LmConfig> {
        let lm = |mixer, tie| LmConfig {
            vocab_size: 37,
            n_layer: 2,
            mixer,
            norm_eps: 1e-5,
            tie_embeddings: tie,
        };
        vec![
            lm(
                MixerConfig::Mamba(MambaConfig {
                    d_state: 8,
                    bias: true,
                    ..MambaConfig::new(24)
                }),
                true,
            ),
            lm(
                MixerConfig::Mamba2(Mamba2Config {
                    d_state: 8,
                    headdim: 8,
                    ngroups: 2,
                    chunk_size: 4,
                    ..Mamba2Config::new(24)
                }),
                false,
            ),
            lm(
                MixerConfig::Mamba2(Mamba2Config {
                    d_state: 8,
                    headdim: 12,
                    rmsnorm: false,
                    dt_limit: (0.01, 0.05),
                    ..Mamba2Config::new(24)
                }),
                true,
            ),
        ]
    }

    #[test]
    fn fused_steps_equal_the_layered_steps_after_a_parallel_prefill() {
        let device = Default::default();
        for config in models() {
            let model = config.init::<B>(&device).unwrap();
            let prompt: Vec<i64> = (0..9).map(|i| (i * 5 + 2) % 37).collect();
            let tokens =
                Tensor::<B, 2, Int>::from_data(TensorData::new(prompt.clone(), [1, 9]), &device);
            let (_, mut state) = model
                .prefill(&model.initial_state(1).unwrap(), tokens)
                .unwrap();
            let mut fused = FusedDecoder::new(&model).expect("fusable");
            fused.load_state(&state).unwrap();
            for t in 0..6i64 {
                let token = (t * 11 + 3) % 37;
                let input =
                    Tensor::<B, 1, Int>::from_data(TensorData::new(vec![token], [1]), &device);
                let (want, next) = model.step(&state, input).unwrap();
                state = next;
                let want: Vec<f32> = want.into_data().to_vec().unwrap();
                let got = fused.step(token).unwrap();
                let err = crate::golden::rel_err(
                    &got.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                    &want.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                );
                assert!(err < 1e-5, "{:?} step {t}: {err:.2e}", config.mixer);
            }
        }
    }

    #[test]
    fn bad_tokens_and_foreign_states_are_errors() {
        let device = Default::default();
        let configs = models();
        let model = configs[0].init::<B>(&device).unwrap();
        let mut fused = FusedDecoder::new(&model).unwrap();
        assert!(fused.step(37).unwrap_err().to_string().contains("0..37"));
        assert!(fused.step(-1).is_err());
        let other = configs[1].init::<B>(&device).unwrap();
        let err = fused
            .load_state(&other.initial_state(1).unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("another kind"), "{err}");
    }
}
