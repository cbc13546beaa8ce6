//! Sequence mixers. Each maps (batch, length, channels) to (batch, length,
//! channels') and offers three views: `forward` (parallel), a recurrent
//! `step`, and chunked `forward_with_state`, held equal by tests; Mamba and
//! Mamba-2 derive all three from one `run` ([`mixer::StatefulMixer`]).

pub mod activation;
pub mod causal_conv;
pub mod embedding;
pub mod hydra;
mod init;
pub mod linear;
pub mod mamba;
pub mod mamba2;
pub mod mixer;
pub mod norm;
pub mod s4;
mod validate;
