//! Reading and writing tensors and checkpoints.

mod host;
pub mod safetensors;

pub use self::host::tensor_from_f64;
pub use self::safetensors::{HostTensor, SafetensorsFile};
