//! Reading and writing tensors and checkpoints.

mod host;
pub mod safetensors;
pub mod state_dict;

pub use self::host::tensor_from_f64;
pub use self::safetensors::{HostTensor, SafetensorsFile};
pub use self::state_dict::{ParamInfo, load_params, named_grads, param_infos};
