//! Models built from mixers: a language model (embedding → residual
//! blocks → norm → head) for any mixer, a sequence classifier, forecasters,
//! and pretrained language models loaded from checkpoint folders.

pub mod chimera;
pub mod classifier;
pub mod forecaster;
pub mod lm;
pub mod mixer;
pub mod precision;
pub mod pretrained;
pub mod tsm2;

pub use lm::{LanguageModel, LmConfig, LmState, StateCarry};
pub use mixer::{Mixer, MixerConfig, MixerState};
pub use precision::Precision;
