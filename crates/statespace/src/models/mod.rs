//! Models built from mixers: a language model (embedding → residual
//! blocks → norm → head) for any mixer.

pub mod classifier;
pub mod lm;
pub mod mixer;

pub use lm::{LanguageModel, LmConfig, LmState};
pub use mixer::{Mixer, MixerConfig, MixerState};
