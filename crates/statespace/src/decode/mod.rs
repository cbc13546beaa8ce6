//! Fused inference of Mamba, Mamba-2 and Mamba-3 language models on the CPU: prompt
//! prefill in blocks of tokens and one-token decode steps.
//!
//! Run as burn tensor ops, a decode step of a 130m model spends half its
//! time dispatching a few hundred small ops, and a prefill walks its
//! activations through strided copies between them. [`FusedDecoder`] runs
//! the same arithmetic as plain loops over the model's own f32 storage (read
//! in place, not copied): projections as GEMMs (a block) or matrix–vector
//! products split across the rayon pool (one token, at memory bandwidth),
//! the convolution, scan and norms as vectorised loops. It reproduces
//! [`LanguageModel::prefill`] and [`LanguageModel::step`] to float rounding
//! (tested), and is used by [`crate::generate::Generator`] whenever the
//! model lives on the CPU backend in f32.

mod cpu_kernels;
mod gemv;
#[cfg(feature = "cuda")]
pub mod gpu;
mod mamba;
mod mamba2;
mod mamba3;
mod matrix;
mod shared;

use burn::tensor::backend::Backend;

use crate::error::{Error, Result};
use crate::host_pool::on_pool;
use crate::models::{LanguageModel, LmState, Mixer, MixerState};
use cpu_kernels::rms_norm;
use mamba::FusedMamba;
use mamba2::FusedMamba2;
use mamba3::FusedMamba3;
use matrix::Matrix;
pub use matrix::WeightFormat;
use shared::Shared;

/// One block's mixer, fused.
enum FusedMixer {
    Mamba(Box<FusedMamba>),
    Mamba2(Box<FusedMamba2>),
    Mamba3(Box<FusedMamba3>),
}

/// A block: its pre-norm weight and ε, and the mixer.
struct FusedBlock {
    norm: Shared,
    eps: f32,
    mixer: FusedMixer,
}

/// A Mamba / Mamba-2 / Mamba-3 language model run for one sequence (batch 1) on host
/// f32 memory shared with the model it was built from: blocks of prompt
/// tokens ([`Self::prefill`]) and single tokens ([`Self::step`]), carrying
/// the recurrent state between calls.
pub struct FusedDecoder {
    embeddings: Shared,
    blocks: Vec<FusedBlock>,
    norm_f: Shared,
    eps_f: f32,
    /// (vocab, d_model): the head, or the embeddings when tied.
    head: Matrix,
    d_model: usize,
    /// The logits of the last token fed.
    logits: Vec<f32>,
}

impl FusedDecoder {
    /// The fused form of `model`, or `None` when it cannot be fused: a
    /// backend other than the CPU's, weights not in f32, or a block that is
    /// not Mamba / Mamba-2 / Mamba-3 (S4 blocks run the model's own
    /// recurrent view; Hydra has none). The state starts at zero (see [`Self::load_state`]).
    pub fn new<B: Backend>(model: &LanguageModel<B>) -> Option<Self> {
        Self::with_weights(model, WeightFormat::F32)
    }

    /// [`Self::new`] with a copy of the projection matrices (in/out
    /// projections, the head) in `format` for the one-token steps: a 16-bit
    /// copy halves the bytes a step reads, at half the f32 weights' memory
    /// on top of the model's. Blocks of tokens (prefill), which are
    /// compute-bound, multiply by the model's f32 values.
    pub fn with_weights<B: Backend>(
        model: &LanguageModel<B>,
        format: WeightFormat,
    ) -> Option<Self> {
        let blocks = model
            .layers
            .iter()
            .map(|block| {
                let mixer = match &block.mixer {
                    Mixer::Mamba(m) => FusedMixer::Mamba(Box::new(FusedMamba::new(m, format)?)),
                    Mixer::Mamba2(m) => FusedMixer::Mamba2(Box::new(FusedMamba2::new(m, format)?)),
                    Mixer::Mamba3(m) => FusedMixer::Mamba3(Box::new(FusedMamba3::new(m, format)?)),
                    Mixer::S4(_)
                    | Mixer::Hydra(_)
                    | Mixer::S5(_)
                    | Mixer::H3(_)
                    | Mixer::Hyena(_)
                    | Mixer::LongConv(_) => return None,
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
            head: Matrix::of(head, format)?,
            d_model,
            logits: vec![0.0; vocab],
        })
    }

    /// Continues from sequence 0 of `state` (a state of batch 1, e.g. after
    /// a parallel prefill with [`LanguageModel::prefill`]).
    pub fn load_state<B: Backend>(&mut self, state: &LmState<B>) -> Result<()> {
        let states = layer_states(state, self.blocks.len())?;
        for (block, s) in self.blocks.iter_mut().zip(states) {
            match (&mut block.mixer, s) {
                (FusedMixer::Mamba(m), MixerState::Mamba(s)) => m.load_state(s)?,
                (FusedMixer::Mamba2(m), MixerState::Mamba2(s)) => m.load_state(s)?,
                (FusedMixer::Mamba3(m), MixerState::Mamba3(s)) => m.load_state(s)?,
                _ => return Err(other_mixer_state()),
            }
        }
        Ok(())
    }

    /// Feeds `token` and returns the logits (vocab) of the next one.
    pub fn step(&mut self, token: i64) -> Result<&[f32]> {
        self.prefill(&[token])
    }

    /// Feeds a block of tokens at once (a prompt, or a chunk of one) and
    /// returns the logits (vocab) after its last token. Memory grows with
    /// the block's length; feed long prompts in chunks.
    pub fn prefill(&mut self, tokens: &[i64]) -> Result<&[f32]> {
        let vocab = self.logits.len();
        if tokens.is_empty() {
            return Err(Error::config("tokens", "a block needs at least one token"));
        }
        let rows = tokens
            .iter()
            .map(|&token| {
                usize::try_from(token)
                    .ok()
                    .filter(|&t| t < vocab)
                    .ok_or_else(|| {
                        Error::config(
                            "tokens",
                            format!("token ids must lie in 0..{vocab}, got {token}"),
                        )
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        // About 120 parallel loops a token: on a worker, not queued one by one.
        on_pool(|| self.forward_rows(&rows));
        Ok(&self.logits)
    }

    /// The logits after the tokens of embedding rows `rows`, into
    /// `self.logits`, advancing every layer's state.
    fn forward_rows(&mut self, rows: &[usize]) {
        let d = self.d_model;
        let len = rows.len();
        let embeddings = self.embeddings.slice();
        let mut residual: Vec<f32> = rows
            .iter()
            .flat_map(|&r| &embeddings[r * d..(r + 1) * d])
            .copied()
            .collect();
        let mut normed = vec![0.0; len * d];
        let mut mixed = vec![0.0; len * d];
        for block in &mut self.blocks {
            for (x, out) in residual.chunks_exact(d).zip(normed.chunks_exact_mut(d)) {
                rms_norm(x, block.norm.slice(), block.eps, out);
            }
            match &mut block.mixer {
                FusedMixer::Mamba(m) => m.forward(len, &normed, &mut mixed),
                FusedMixer::Mamba2(m) => m.forward(len, &normed, &mut mixed),
                FusedMixer::Mamba3(m) => m.forward(len, &normed, &mut mixed),
            }
            residual.iter_mut().zip(&mixed).for_each(|(r, m)| *r += m);
        }
        let last = &residual[(len - 1) * d..];
        rms_norm(last, self.norm_f.slice(), self.eps_f, &mut normed[..d]);
        self.head.matmul_t(1, &normed[..d], None, &mut self.logits);
    }
}

/// The per-layer states of `state`, or an error when it holds another
/// number of layers than the decoder's `layers` blocks.
pub(crate) fn layer_states<B: Backend>(
    state: &LmState<B>,
    layers: usize,
) -> Result<&[MixerState<B>]> {
    if state.layers.len() != layers {
        return Err(Error::config(
            "state",
            format!("{} layer states for {layers} layers", state.layers.len()),
        ));
    }
    Ok(&state.layers)
}

/// The error of a layer state that belongs to another kind of mixer than
/// the block it is loaded into.
pub(crate) fn other_mixer_state() -> Error {
    Error::config("state", "the state belongs to another kind of mixer")
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::{Int, Tensor, TensorData};

    use crate::layers::mamba::MambaConfig;
    use crate::layers::mamba2::Mamba2Config;
    use crate::layers::mamba3::Mamba3Config;
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
            lm(
                MixerConfig::Mamba3(Mamba3Config {
                    d_state: 8,
                    headdim: 8,
                    ngroups: 3,
                    ..Mamba3Config::new(24)
                }),
                true,
            ),
            lm(
                MixerConfig::Mamba3(Mamba3Config {
                    d_state: 8,
                    headdim: 12,
                    rope_fraction: 1.0,
                    is_mimo: true,
                    mimo_rank: 3,
                    is_outproj_norm: true,
                    ..Mamba3Config::new(24)
                }),
                false,
            ),
        ]
    }

    #[test]
    fn fused_steps_equal_the_layered_steps_after_a_parallel_prefill() {
        let device = Default::default();
        for config in models() {
            let model = config
                .init::<B>(
                    &device,
                    &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1),
                )
                .unwrap();
            let prompt: Vec<i64> = (0..9).map(|i| (i * 5 + 2) % 37).collect();
            let tokens =
                Tensor::<B, 2, Int>::from_data(TensorData::new(prompt.clone(), [1, 9]), &device);
            let (_, mut state) = model
                .prefill(&model.initial_state(1).unwrap(), tokens)
                .unwrap();
            // A fused prefill in two blocks gives the same logits and state.
            let mut fused = FusedDecoder::new(&model).expect("fusable");
            fused.prefill(&prompt[..4]).unwrap();
            let (want, _) = model
                .prefill(
                    &model.initial_state(1).unwrap(),
                    Tensor::<B, 2, Int>::from_data(
                        TensorData::new(prompt.clone(), [1, 9]),
                        &device,
                    ),
                )
                .unwrap();
            let got = fused.prefill(&prompt[4..]).unwrap().to_vec();
            let want: Vec<f32> = want.into_data().to_vec().unwrap();
            let err = crate::golden::rel_err(
                &got.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                &want.iter().map(|&v| v as f64).collect::<Vec<_>>(),
            );
            assert!(err < 1e-5, "{:?} prefill: {err:.2e}", config.mixer);
            // Steps from the fused prefill's state and from a loaded state.
            let mut loaded = FusedDecoder::new(&model).expect("fusable");
            loaded.load_state(&state).unwrap();
            for t in 0..6i64 {
                let token = (t * 11 + 3) % 37;
                let input =
                    Tensor::<B, 1, Int>::from_data(TensorData::new(vec![token], [1]), &device);
                let (want, next) = model.step(&state, input).unwrap();
                state = next;
                let want: Vec<f32> = want.into_data().to_vec().unwrap();
                for decoder in [&mut fused, &mut loaded] {
                    let got = decoder.step(token).unwrap();
                    let err = crate::golden::rel_err(
                        &got.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                        &want.iter().map(|&v| v as f64).collect::<Vec<_>>(),
                    );
                    assert!(err < 1e-5, "{:?} step {t}: {err:.2e}", config.mixer);
                }
            }
        }
    }

    /// On weights a 16-bit checkpoint holds (every parameter rounded to
    /// bf16 or f16), a decoder storing its projections in that format
    /// equals the f32 one to float rounding: 16-bit storage loses nothing
    /// of such a checkpoint. On f32 weights it differs by the weights'
    /// rounding only.
    #[test]
    fn sixteen_bit_weights_decode_a_sixteen_bit_checkpoint_exactly() {
        use crate::io::state_dict::cast_params;
        use burn::tensor::DType;
        let device = Default::default();
        let prompt: Vec<i64> = (0..7).map(|i| (i * 5 + 2) % 37).collect();
        let as_f64 = |v: &[f32]| v.iter().map(|&v| f64::from(v)).collect::<Vec<_>>();
        for config in models() {
            let model = config
                .init::<B>(
                    &device,
                    &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(3),
                )
                .unwrap();
            for (format, dtype) in [
                (WeightFormat::Bf16, DType::BF16),
                (WeightFormat::F16, DType::F16),
            ] {
                let rounded = cast_params(cast_params(model.clone(), dtype), DType::F32);
                // f32 and 16-bit decoders on the rounded weights, then on the
                // model's own.
                let mut decoders = [
                    FusedDecoder::new(&rounded),
                    FusedDecoder::with_weights(&rounded, format),
                    FusedDecoder::with_weights(&model, format),
                    FusedDecoder::new(&model),
                ]
                .map(|d| d.expect("fusable"));
                let bound = if format == WeightFormat::Bf16 {
                    2e-2
                } else {
                    4e-3
                };
                let mut check = |t: &str, feed: &dyn Fn(&mut FusedDecoder) -> Vec<f32>| {
                    let [full, half, unrounded, exact] =
                        decoders.each_mut().map(|d| as_f64(&feed(d)));
                    let err = crate::golden::rel_err(&half, &full);
                    assert!(err < 1e-5, "{:?} {format} {t}: {err:.2e}", config.mixer);
                    // Rounding the weights moves the logits by about the
                    // format's precision, not more.
                    let err = crate::golden::rel_err(&unrounded, &exact);
                    assert!(
                        err < bound,
                        "{:?} {format} {t} on f32 weights: {err:.2e}",
                        config.mixer
                    );
                };
                check("prefill", &|d| d.prefill(&prompt).unwrap().to_vec());
                for t in 0..4i64 {
                    let token = (t * 11 + 3) % 37;
                    check(&format!("step {t}"), &|d| d.step(token).unwrap().to_vec());
                }
            }
        }
    }

    #[test]
    fn bad_tokens_and_foreign_states_are_errors() {
        let device = Default::default();
        let configs = models();
        let model = configs[0]
            .init::<B>(
                &device,
                &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(2),
            )
            .unwrap();
        let mut fused = FusedDecoder::new(&model).unwrap();
        assert!(fused.step(37).unwrap_err().to_string().contains("0..37"));
        assert!(fused.step(-1).is_err());
        let other = configs[1]
            .init::<B>(
                &device,
                &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(3),
            )
            .unwrap();
        let err = fused
            .load_state(&other.initial_state(1).unwrap())
            .unwrap_err();
        assert!(err.to_string().contains("another kind"), "{err}");
    }
}
