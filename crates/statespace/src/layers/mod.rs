//! Sequence mixers. Each maps (batch, length, channels) to (batch, length,
//! channels') and offers three views: `forward` (parallel), a recurrent
//! `step`, and chunked `forward_with_state`, held equal by tests.

pub mod activation;
pub mod embedding;
pub mod linear;
pub mod mamba;
pub mod mamba2;
pub mod norm;
pub mod s4;
