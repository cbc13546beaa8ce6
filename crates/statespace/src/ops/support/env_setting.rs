//! Run-time settings of the CUDA runtime read from the environment
//! (`SSM_CUDA_MEMORY`, `SSM_CUDA_METADATA`, `SSM_MIN_WARPS_PER_SM`).

use crate::error::{Error, Result};

/// The value of the environment variable `key` parsed by `parse`, or
/// `None` when it is unset; a value that is not UTF-8 is an error naming
/// the variable, as is whatever `parse` refuses.
#[cfg(feature = "cuda")]
pub(crate) fn env_setting<T>(
    key: &str,
    parse: impl FnOnce(&str) -> Result<T>,
) -> Result<Option<T>> {
    match std::env::var(key) {
        Ok(text) => parse(&text).map(Some),
        Err(std::env::VarError::NotPresent) => Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => Err(Error::Config {
            key: key.into(),
            message: "not UTF-8".into(),
        }),
    }
}
