//! A sequence mixer of any kind behind one interface (the three views:
//! `forward`, `step` via one-token chunks, `forward_with_state`).

use std::sync::Arc;

use burn::module::Module;
use burn::tensor::backend::Backend;
use burn::tensor::{FloatDType, Tensor};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::precision::cast_view;
use crate::error::{Error, Result};
use crate::layers::h3::{H3, H3Config, H3State};
use crate::layers::hydra::{Hydra, HydraConfig};
use crate::layers::hyena::{Hyena, HyenaConfig};
use crate::layers::linear::Linear;
use crate::layers::long_conv::{LongConv, LongConvConfig};
use crate::layers::mamba::{Mamba, MambaConfig, MambaState};
use crate::layers::mamba2::{Mamba2, Mamba2Config, Mamba2State};
use crate::layers::mamba3::{Mamba3, Mamba3Config, Mamba3State};
use crate::layers::mixer::StatefulMixer;
use crate::layers::s4::{S4, S4Config, S4Recurrent, S4State};
use crate::layers::s5::{S5Block, S5Config, S5State};
use crate::ops::{SsmBackend, glu};
use crate::size::{overflow, sum_of_products};

/// Which mixer a block uses, with its hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MixerConfig {
    /// S4 / S4D convolution followed by a GLU output projection (s4's block).
    S4(S4Config),
    /// Mamba (selective scan).
    Mamba(MambaConfig),
    /// Mamba-2 (SSD).
    Mamba2(Mamba2Config),
    /// Mamba-3 (SISO or MIMO).
    Mamba3(Mamba3Config),
    /// Hydra: bidirectional (not causal; classifiers only).
    Hydra(HydraConfig),
    /// S5: a MIMO diagonal SSM by a parallel scan, with its gate.
    S5(S5Config),
    /// H3: shift and diagonal SSMs with multiplicative gating.
    H3(H3Config),
    /// Hyena: implicit long convolutions with data-controlled gating.
    Hyena(HyenaConfig),
    /// A learned long convolution (smoothed, soft-thresholded kernel).
    #[serde(rename = "long_conv")]
    LongConv(LongConvConfig),
}

impl MixerConfig {
    /// Whether this mixer's recurrent state can pass between the ranks
    /// that hold consecutive parts of a sequence
    /// ([`MixerState::flat_parts`]).
    pub fn state_is_carried(&self) -> bool {
        match self {
            MixerConfig::Mamba(_) | MixerConfig::Mamba2(_) | MixerConfig::Mamba3(_) => true,
            MixerConfig::S5(c) => !c.bidirectional,
            _ => false,
        }
    }

    /// The mixer's model width.
    pub fn d_model(&self) -> usize {
        match self {
            MixerConfig::S4(c) => c.d_model,
            MixerConfig::Mamba(c) => c.d_model,
            MixerConfig::Mamba2(c) => c.d_model,
            MixerConfig::Mamba3(c) => c.d_model,
            MixerConfig::Hydra(c) => c.d_model,
            MixerConfig::S5(c) => c.d_model,
            MixerConfig::H3(c) => c.d_model,
            MixerConfig::Hyena(c) => c.d_model,
            MixerConfig::LongConv(c) => c.d_model,
        }
    }

    /// Checks the mixer's fields, naming the first one out of its domain.
    pub fn validate(&self) -> Result<()> {
        match self {
            MixerConfig::S4(c) => c.validate(),
            MixerConfig::Mamba(c) => c.validate(),
            MixerConfig::Mamba2(c) => c.validate(),
            MixerConfig::Mamba3(c) => c.validate(),
            MixerConfig::Hydra(c) => c.validate(),
            MixerConfig::S5(c) => c.validate(),
            MixerConfig::H3(c) => c.validate(),
            MixerConfig::Hyena(c) => c.validate(),
            MixerConfig::LongConv(c) => {
                c.validate()?;
                if c.postact.is_none() && c.channels != 1 {
                    return Err(Error::config(
                        "postact",
                        "a long-convolution mixer with several channels needs an output map (postact) back to d_model",
                    ));
                }
                Ok(())
            }
        }
    }

    /// The number of parameters of one mixer (for S4, with its GLU output
    /// projection), in checked arithmetic; call after [`Self::validate`].
    pub fn param_count(&self) -> Result<usize> {
        match self {
            MixerConfig::S4(c) => {
                let h = c.d_model;
                let glu = sum_of_products(&[&[c.channels, h, 2, h], &[2, h]])
                    .ok_or_else(|| overflow("d_model"))?;
                c.param_count()?
                    .checked_add(glu)
                    .ok_or_else(|| overflow("d_model"))
            }
            MixerConfig::Mamba(c) => c.param_count(),
            MixerConfig::Mamba2(c) => c.param_count(),
            MixerConfig::Mamba3(c) => c.param_count(),
            MixerConfig::Hydra(c) => c.param_count(),
            MixerConfig::S5(c) => c.param_count(),
            MixerConfig::H3(c) => c.param_count(),
            MixerConfig::Hyena(c) => c.param_count(),
            MixerConfig::LongConv(c) => c.param_count(),
        }
    }

    /// Builds a freshly initialised mixer; every random value is drawn from `rng`.
    pub fn init<B: SsmBackend>(&self, device: &B::Device, rng: &mut impl Rng) -> Result<Mixer<B>> {
        Ok(match self {
            MixerConfig::S4(c) => {
                let h = c.d_model;
                Mixer::S4(S4Block {
                    layer: c.init(device, rng)?,
                    output_linear: Linear::new(c.channels * h, 2 * h, true, device, rng),
                })
            }
            MixerConfig::Mamba(c) => Mixer::Mamba(c.init(device, rng)?),
            MixerConfig::Mamba2(c) => Mixer::Mamba2(c.init(device, rng)?),
            MixerConfig::Mamba3(c) => Mixer::Mamba3(c.init(device, rng)?),
            MixerConfig::Hydra(c) => Mixer::Hydra(c.init(device, rng)?),
            MixerConfig::S5(c) => Mixer::S5(c.init(device, rng)?),
            MixerConfig::H3(c) => Mixer::H3(c.init(device, rng)?),
            MixerConfig::Hyena(c) => Mixer::Hyena(c.init(device, rng)?),
            MixerConfig::LongConv(c) => Mixer::LongConv(c.init(device, rng)?),
        })
    }

    /// Whether every output step depends on past and present inputs only
    /// (all mixers but Hydra, and S4, S5 and the long convolution unless
    /// bidirectional).
    pub fn is_causal(&self) -> bool {
        match self {
            MixerConfig::S4(c) => !c.bidirectional,
            MixerConfig::S5(c) => !c.bidirectional,
            MixerConfig::LongConv(c) => !c.bidirectional,
            MixerConfig::Hydra(_) => false,
            MixerConfig::Mamba(_)
            | MixerConfig::Mamba2(_)
            | MixerConfig::Mamba3(_)
            | MixerConfig::H3(_)
            | MixerConfig::Hyena(_) => true,
        }
    }
}

impl std::fmt::Display for MixerConfig {
    /// The mixer and its main sizes, e.g. `Mamba-2 (d_state 128, …)`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MixerConfig::S4(s) => write!(
                f,
                "S4 ({:?}, d_state {}, init {})",
                s.mode, s.d_state, s.init
            ),
            MixerConfig::Mamba(m) => write!(
                f,
                "Mamba (d_state {}, d_conv {}, expand {}, dt_rank {})",
                m.d_state,
                m.d_conv,
                m.expand,
                m.dt_rank()
            ),
            MixerConfig::Mamba2(m) => write!(
                f,
                "Mamba-2 (d_state {}, d_conv {}, expand {}, {} heads × {}, {} groups, chunk {})",
                m.d_state,
                m.d_conv,
                m.expand,
                m.nheads(),
                m.headdim,
                m.ngroups,
                m.chunk_size
            ),
            MixerConfig::Mamba3(m) => write!(
                f,
                "Mamba-3 {} (d_state {}, expand {}, {} heads × {}, {} groups, {} rotary angles{})",
                if m.is_mimo {
                    format!("MIMO rank {}", m.mimo_rank)
                } else {
                    "SISO".to_string()
                },
                m.d_state,
                m.expand,
                m.nheads(),
                m.headdim,
                m.ngroups,
                m.num_rope_angles(),
                if m.is_outproj_norm {
                    ", output norm"
                } else {
                    ""
                }
            ),
            MixerConfig::Hydra(m) => write!(
                f,
                "Hydra (bidirectional; d_state {}, d_conv {}, expand {}, {} heads × {}, {} groups)",
                m.d_state,
                m.d_conv,
                m.expand,
                m.nheads(),
                m.headdim,
                m.ngroups
            ),
            MixerConfig::S5(m) => write!(
                f,
                "S5 ({}state size {} in {} blocks, {:?}, {}{:?})",
                if m.bidirectional {
                    "bidirectional; "
                } else {
                    ""
                },
                m.ssm_size,
                m.blocks,
                m.c_init,
                if m.conj_sym { "conjugate pairs, " } else { "" },
                m.activation
            ),
            MixerConfig::H3(m) => write!(
                f,
                "H3 (d_state {}, head dim {}, {})",
                m.d_state, m.head_dim, m.disc
            ),
            MixerConfig::Hyena(m) => write!(
                f,
                "Hyena (order {}, filter order {}, l_max {}, short filter {})",
                m.order, m.filter_order, m.l_max, m.short_filter_order
            ),
            MixerConfig::LongConv(m) => write!(
                f,
                "long convolution ({}l_max {}, λ {}, smoothing {})",
                if m.bidirectional {
                    "bidirectional; "
                } else {
                    ""
                },
                m.l_max,
                m.lam,
                m.ma_window_len
                    .map_or("none".to_string(), |w| format!("window {w}"))
            ),
        }
    }
}

/// s4's block body: the S4 layer, then a linear map to 2H and a GLU.
#[derive(Module, Debug)]
pub struct S4Block<B: Backend> {
    /// The convolution layer.
    pub layer: S4<B>,
    /// channels·H → 2H, halved by the GLU.
    pub output_linear: Linear<B>,
}

impl<B: crate::ops::MatmulOps + crate::ops::GluOps> S4Block<B> {
    fn output(&self, y: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        glu(self.output_linear.forward(y)?)
    }
}

/// A sequence mixer.
// One per block, built once: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Module, Debug)]
pub enum Mixer<B: Backend> {
    /// S4 / S4D block.
    S4(S4Block<B>),
    /// Mamba.
    Mamba(Mamba<B>),
    /// Mamba-2.
    Mamba2(Mamba2<B>),
    /// Mamba-3.
    Mamba3(Mamba3<B>),
    /// Hydra (bidirectional).
    Hydra(Hydra<B>),
    /// S5 with its gate.
    S5(S5Block<B>),
    /// H3.
    H3(H3<B>),
    /// Hyena.
    Hyena(Hyena<B>),
    /// Long convolution.
    LongConv(LongConv<B>),
}

/// The recurrent state of a [`Mixer`].
#[derive(Clone)]
pub enum MixerState<B: Backend> {
    /// Of an S4 block: its discretised recurrence and state.
    S4(Arc<S4Recurrent<B>>, S4State<B>),
    /// Of a Mamba mixer.
    Mamba(MambaState<B>),
    /// Of a Mamba-2 mixer.
    Mamba2(Mamba2State<B>),
    /// Of a Mamba-3 mixer.
    Mamba3(Mamba3State<B>),
    /// Of an S5 mixer.
    S5(S5State<B>),
    /// Of an H3 mixer.
    H3(H3State<B>),
}

impl<B: Backend> MixerState<B> {
    /// The state's tensors, each flattened, in a fixed order: what carries
    /// a state between the ranks that hold consecutive parts of a sequence.
    /// Fails for S4 and H3 states, whose discretisation or complex parts
    /// are not carried this way.
    pub fn flat_parts(&self) -> Result<Vec<Tensor<B, 1>>> {
        Ok(match self {
            MixerState::Mamba(s) => vec![flat(&s.conv), flat(&s.ssm)],
            MixerState::Mamba2(s) => vec![flat(&s.conv), flat(&s.ssm)],
            MixerState::Mamba3(s) => vec![flat(&s.angle), flat(&s.ssm), flat(&s.k), flat(&s.v)],
            MixerState::S5(s) => vec![flat(&s.x)],
            MixerState::S4(..) | MixerState::H3(_) => return Err(not_carried()),
        })
    }

    /// A state of this one's kind and shapes holding `parts`, ordered and
    /// flattened as [`MixerState::flat_parts`] gives them.
    pub fn with_flat_parts(&self, parts: Vec<Tensor<B, 1>>) -> Result<Self> {
        let count = self.flat_parts()?.len();
        if parts.len() != count {
            return Err(Error::config(
                "state",
                format!("{} parts for a state of {count}", parts.len()),
            ));
        }
        let mut parts = parts.into_iter();
        let mut next = || parts.next().expect("counted");
        Ok(match self {
            MixerState::Mamba(s) => MixerState::Mamba(MambaState {
                conv: shaped(next(), &s.conv)?,
                ssm: shaped(next(), &s.ssm)?,
            }),
            MixerState::Mamba2(s) => MixerState::Mamba2(Mamba2State {
                conv: shaped(next(), &s.conv)?,
                ssm: shaped(next(), &s.ssm)?,
            }),
            MixerState::Mamba3(s) => MixerState::Mamba3(Mamba3State {
                angle: shaped(next(), &s.angle)?,
                ssm: shaped(next(), &s.ssm)?,
                k: shaped(next(), &s.k)?,
                v: shaped(next(), &s.v)?,
            }),
            MixerState::S5(s) => MixerState::S5(S5State {
                x: shaped(next(), &s.x)?,
            }),
            MixerState::S4(..) | MixerState::H3(_) => return Err(not_carried()),
        })
    }
}

/// The error of a state [`MixerState::flat_parts`] does not carry.
fn not_carried() -> Error {
    Error::config(
        "mixer",
        "only Mamba, Mamba-2, Mamba-3 and S5 states are carried between ranks (sequence parallelism)",
    )
}

/// `t` as one axis.
fn flat<B: Backend, const D: usize>(t: &Tensor<B, D>) -> Tensor<B, 1> {
    t.clone().reshape([t.shape().num_elements()])
}

/// `part` in the shape of `like`, or an error if the sizes differ.
fn shaped<B: Backend, const D: usize>(
    part: Tensor<B, 1>,
    like: &Tensor<B, D>,
) -> Result<Tensor<B, D>> {
    let dims = like.dims();
    if part.dims()[0] != like.shape().num_elements() {
        return Err(Error::shape("state part", &dims, &part.dims()));
    }
    Ok(part.reshape(dims))
}

impl<B: Backend> Mixer<B> {
    /// The mixer as a mixed-precision pass runs it ([`super::Precision`]):
    /// its parameters cast to `dtype`, except A, D and the Δ bias of Mamba
    /// and Mamba-2, which stay f32 as under mamba_ssm's autocast (Mamba's
    /// selective scan takes them in f32; Mamba-2 forms Δ and the decays in
    /// f32 and rounds them for its SSD kernels, which take one storage type).
    pub fn cast_view(&self, dtype: FloatDType) -> Self {
        let keep: &[&str] = match self {
            Mixer::Mamba(_) => &["A_log", "D", "dt_proj.bias"],
            Mixer::Mamba2(_) => &["A_log", "D", "dt_bias"],
            _ => &[],
        };
        cast_view(self.clone(), dtype, keep)
    }
}

impl<B: SsmBackend> Mixer<B> {
    /// The zero state for `batch` sequences (S4 blocks discretise here).
    pub fn initial_state(&self, batch: usize) -> Result<MixerState<B>> {
        Ok(match self {
            Mixer::S4(b) => {
                let rec = b.layer.recurrent()?;
                let state = rec.initial_state(batch);
                MixerState::S4(Arc::new(rec), state)
            }
            Mixer::Mamba(m) => MixerState::Mamba(m.initial_state(batch)),
            Mixer::Mamba2(m) => MixerState::Mamba2(m.initial_state(batch)),
            Mixer::Mamba3(m) => MixerState::Mamba3(m.initial_state(batch)),
            Mixer::S5(m) => {
                if m.seq.settings().bidirectional {
                    return Err(Error::config(
                        "mixer",
                        "a bidirectional S5 mixer has no recurrent state (no step or streaming view)",
                    ));
                }
                MixerState::S5(m.initial_state(batch))
            }
            Mixer::H3(m) => MixerState::H3(m.initial_state(batch)),
            Mixer::Hydra(_) => {
                return Err(Error::config(
                    "mixer",
                    "Hydra is bidirectional: it has no recurrent state (no step or streaming view)",
                ));
            }
            Mixer::Hyena(_) | Mixer::LongConv(_) => {
                return Err(Error::config(
                    "mixer",
                    "Hyena and the long convolution run as whole-sequence convolutions: they have no recurrent state (no step or streaming view)",
                ));
            }
        })
    }

    /// (B, L, d) → (B, L, d).
    pub fn forward(&self, h: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        match self {
            Mixer::S4(b) => b.output(b.layer.forward(h)?),
            Mixer::Mamba(m) => m.forward(h),
            Mixer::Mamba2(m) => m.forward(h),
            Mixer::Mamba3(m) => m.forward(h),
            Mixer::Hydra(m) => m.forward(h),
            Mixer::S5(m) => m.forward(h),
            Mixer::H3(m) => m.forward(h),
            Mixer::Hyena(m) => m.forward(h),
            Mixer::LongConv(m) => m.forward(h),
        }
    }

    /// A chunk (B, L, d) from `state`.
    pub fn forward_with_state(
        &self,
        state: &MixerState<B>,
        h: Tensor<B, 3>,
    ) -> Result<(Tensor<B, 3>, MixerState<B>)> {
        match (self, state) {
            (Mixer::S4(b), MixerState::S4(rec, s)) => {
                let (y, s) = rec.forward_with_state(s, h)?;
                Ok((b.output(y)?, MixerState::S4(rec.clone(), s)))
            }
            (Mixer::Mamba(m), MixerState::Mamba(s)) => {
                let (y, s) = m.forward_with_state(s, h)?;
                Ok((y, MixerState::Mamba(s)))
            }
            (Mixer::Mamba2(m), MixerState::Mamba2(s)) => {
                let (y, s) = m.forward_with_state(s, h)?;
                Ok((y, MixerState::Mamba2(s)))
            }
            (Mixer::Mamba3(m), MixerState::Mamba3(s)) => {
                let (y, s) = m.forward_with_state(s, h)?;
                Ok((y, MixerState::Mamba3(s)))
            }
            (Mixer::S5(m), MixerState::S5(s)) => {
                let (y, s) = m.forward_with_state(h, s)?;
                Ok((y, MixerState::S5(s)))
            }
            (Mixer::H3(m), MixerState::H3(s)) => {
                let (y, s) = m.forward_with_state(h, s.clone())?;
                Ok((y, MixerState::H3(s)))
            }
            _ => Err(Error::config(
                "state",
                "the state belongs to another kind of mixer",
            )),
        }
    }
}
