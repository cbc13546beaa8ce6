//! Sequence mixers. Each maps (batch, length, channels) to (batch, length,
//! channels') and offers three views: `forward` (parallel), a recurrent
//! `step`, and chunked `forward_with_state`, held equal by tests; Mamba,
//! Mamba-2 and Mamba-3 derive all three from one `run`
//! ([`mixer::StatefulMixer`]). Hydra is bidirectional: it has `forward` only.

pub mod activation;
pub mod batch_norm;
pub mod causal_conv;
pub mod chimera;
pub mod embedding;
pub mod h3;
pub mod hydra;
pub mod hyena;
mod init;
pub mod linear;
pub mod long_conv;
pub mod lssl;
pub mod mamba;
pub mod mamba2;
pub mod mamba3;
pub mod mambamixer;
pub mod mixer;
pub mod norm;
pub mod s4;
pub mod s5;
pub mod spacetime;
mod validate;
