//! Reading and writing tensors and checkpoint files (what a file holds;
//! building models from them is [`crate::models::pretrained`]).

pub mod atomic;
mod host;
pub mod idx;
pub mod pytorch;
pub mod safetensors;
pub mod series_csv;
pub mod state_dict;
pub mod ts_file;

pub use self::atomic::write_atomic;
pub use self::host::tensor_from_f64;
pub use self::pytorch::PyTorchFile;
pub use self::safetensors::{HostTensor, SafetensorsFile};
pub use self::series_csv::{SeriesTable, parse_series_csv, read_series_csv};
pub use self::state_dict::{ParamInfo, cast_params, load_params, named_grads, param_infos};
pub use self::ts_file::{TsFile, TsSeries, read_ts_file};
