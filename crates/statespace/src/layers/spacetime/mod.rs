//! SpaceTime (Zhang et al., "Effectively Modeling Time Series with Simple
//! Discrete State Spaces"; HazyResearch/spacetime): companion-matrix SSMs,
//! the shift SSM, the closed-loop forecaster and the fixed preprocessing
//! SSMs, by the official parameter names and with the official code's
//! semantics, quirks included (each module's docs say which).
//!
//! Every module maps (batch, L, D) → (batch, L, D) (the closed loop:
//! (batch, lag, D) → (batch, horizon, D)).

mod closed_loop;
mod companion_fft;
mod config;
mod conv;
mod krylov;
mod mlp;
mod network;
mod norm;
mod preprocess;
mod ssm;

pub use closed_loop::{ClosedLoopSsm, Forecast, TeacherForced};
pub use companion_fft::companion_fft_kernel;
pub use config::{ChannelLayout, SsmKwargs};
pub use krylov::{companion_matrix, krylov_kernel, krylov_states, shift_matrix};
pub use mlp::{Mlp, MlpKwargs};
pub use network::{
    Block, BlockConfig, Decoder, EmbeddingConfig, MlpConfig, OutputConfig, PreConfig, SpaceTime,
    SpaceTimeConfig, SpaceTimeOutput, SsmConfig, StackConfig,
};
pub use norm::row_norm;
pub use preprocess::{DifferencingSsm, ResidualSsm, pascal};
pub use ssm::{CompanionSsm, SsmKind};
