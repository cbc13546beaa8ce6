//! A sequence mixer of any kind behind one interface (the three views:
//! `forward`, `step`, `forward_with_state`).

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::layers::mamba::{Mamba, MambaConfig, MambaState};
use crate::layers::mamba2::{Mamba2, Mamba2Config, Mamba2State};
use crate::ops::SsmBackend;

/// Which mixer a block uses, with its hyperparameters.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum MixerConfig {
    /// Mamba (selective scan).
    Mamba(MambaConfig),
    /// Mamba-2 (SSD).
    Mamba2(Mamba2Config),
}

impl MixerConfig {
    /// The mixer's model width.
    pub fn d_model(&self) -> usize {
        match self {
            MixerConfig::Mamba(c) => c.d_model,
            MixerConfig::Mamba2(c) => c.d_model,
        }
    }

    /// Builds a freshly initialised mixer.
    pub fn init<B: Backend>(&self, device: &B::Device) -> Result<Mixer<B>> {
        Ok(match self {
            MixerConfig::Mamba(c) => Mixer::Mamba(c.init(device)?),
            MixerConfig::Mamba2(c) => Mixer::Mamba2(c.init(device)?),
        })
    }
}

/// A sequence mixer.
#[derive(Module, Debug)]
pub enum Mixer<B: Backend> {
    /// Mamba.
    Mamba(Mamba<B>),
    /// Mamba-2.
    Mamba2(Mamba2<B>),
}

/// The recurrent state of a [`Mixer`].
#[derive(Debug, Clone)]
pub enum MixerState<B: Backend> {
    /// Of a Mamba mixer.
    Mamba(MambaState<B>),
    /// Of a Mamba-2 mixer.
    Mamba2(Mamba2State<B>),
}

impl<B: SsmBackend> Mixer<B> {
    /// The zero state for `batch` sequences.
    pub fn initial_state(&self, batch: usize) -> MixerState<B> {
        match self {
            Mixer::Mamba(m) => MixerState::Mamba(m.initial_state(batch)),
            Mixer::Mamba2(m) => MixerState::Mamba2(m.initial_state(batch)),
        }
    }

    /// (B, L, d) → (B, L, d).
    pub fn forward(&self, h: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        match self {
            Mixer::Mamba(m) => m.forward(h),
            Mixer::Mamba2(m) => m.forward(h),
        }
    }

    /// A chunk (B, L, d) from `state`.
    pub fn forward_with_state(
        &self,
        state: &MixerState<B>,
        h: Tensor<B, 3>,
    ) -> Result<(Tensor<B, 3>, MixerState<B>)> {
        match (self, state) {
            (Mixer::Mamba(m), MixerState::Mamba(s)) => {
                let (y, s) = m.forward_with_state(s, h)?;
                Ok((y, MixerState::Mamba(s)))
            }
            (Mixer::Mamba2(m), MixerState::Mamba2(s)) => {
                let (y, s) = m.forward_with_state(s, h)?;
                Ok((y, MixerState::Mamba2(s)))
            }
            _ => Err(crate::error::Error::config(
                "state",
                "the state belongs to another kind of mixer",
            )),
        }
    }
}
