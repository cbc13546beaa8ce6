//! Reading and writing tensors and checkpoints.

pub mod safetensors;

pub use self::safetensors::{HostTensor, SafetensorsFile};
