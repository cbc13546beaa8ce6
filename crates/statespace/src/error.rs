//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong in `statespace`, each variant naming the
/// thing at fault (tensor, file, config key) so a user can act on it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A tensor had the wrong shape.
    #[error("tensor `{tensor}`: expected shape {expected:?}, got {actual:?}")]
    Shape {
        tensor: String,
        expected: Vec<usize>,
        actual: Vec<usize>,
    },
    /// A named tensor was absent from a state dict or file.
    #[error("missing tensor `{name}` in {source_name}")]
    MissingTensor { name: String, source_name: String },
    /// A tensor was stored with a dtype this operation cannot read.
    #[error("tensor `{name}` in {source_name}: unsupported dtype {dtype}")]
    Dtype {
        name: String,
        source_name: String,
        dtype: String,
    },
    /// Tensors that one operation combines were on different devices.
    #[error("tensor `{tensor}`: {message}")]
    Device { tensor: String, message: String },
    /// A configuration value is out of its domain or inconsistent.
    #[error("invalid config `{key}`: {message}")]
    Config { key: String, message: String },
    /// A numerical value that must be finite (dt, a parameter) was not.
    #[error("non-finite value in `{name}`: {message}")]
    NonFinite { name: String, message: String },
    /// A numerical routine failed (e.g. an eigendecomposition did not converge).
    #[error("numerical failure in {what}: {message}")]
    Numerical { what: String, message: String },
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Training stopped on request after the checkpoint of `step`.
    #[error("training stopped after step {step}; resume from the run folder")]
    Interrupted { step: u64 },
    /// A file was read but its contents are malformed.
    #[error("{path}: {message}")]
    Format { path: PathBuf, message: String },
    /// The device reported a failed launch (a kernel that did not compile,
    /// a launch it refused) when waited on.
    #[error("the device failed a launch: {message}")]
    DeviceLaunch { message: String },
}

impl Error {
    /// A shape error for `tensor`.
    pub fn shape(tensor: impl Into<String>, expected: &[usize], actual: &[usize]) -> Self {
        Error::Shape {
            tensor: tensor.into(),
            expected: expected.to_vec(),
            actual: actual.to_vec(),
        }
    }

    /// A configuration error for `key`.
    pub fn config(key: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Config {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// `Result` with the crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
