//! The golden reference data of the official implementations
//! (state-spaces/s4, mamba_ssm, transformers): where it lives, how its cases
//! are found, and how results are compared with it. Used by the test suite
//! and by `ssm selftest` on any device.

pub mod lm;
pub mod s4;
pub mod selective_scan;
pub mod ssd;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::io::SafetensorsFile;

/// The golden folder: `SSM_GOLDEN_DIR` if set (a relative path is taken from
/// `base`), else `base/../shared/golden`.
pub fn golden_dir(base: &Path) -> PathBuf {
    match std::env::var_os("SSM_GOLDEN_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() { d } else { base.join(d) }
        }
        None => base.join("../shared/golden"),
    }
}

/// Every `<prefix>*.safetensors` case in `dir`, sorted by name. An empty
/// result is an error, so a misplaced folder cannot pass silently.
pub fn cases(dir: &Path, prefix: &str) -> Result<Vec<(String, SafetensorsFile)>> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    let mut names: Vec<String> = entries
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            let case = name.strip_suffix(".safetensors")?;
            case.starts_with(prefix).then(|| case.to_string())
        })
        .collect();
    names.sort();
    if names.is_empty() {
        return Err(Error::Format {
            path: dir.to_path_buf(),
            message: format!("no golden case `{prefix}*.safetensors`"),
        });
    }
    names
        .into_iter()
        .map(|case| {
            let file = SafetensorsFile::open(dir.join(format!("{case}.safetensors")))?;
            Ok((case, file))
        })
        .collect()
}

/// Norm-relative error max|a − b| / max|b| (the golden README's measure);
/// infinite if `actual` has a non-finite value.
pub fn rel_err(actual: &[f64], expected: &[f64]) -> f64 {
    if actual.len() != expected.len() || actual.iter().any(|x| !x.is_finite()) {
        return f64::INFINITY;
    }
    let diff = actual
        .iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let scale = expected.iter().map(|b| b.abs()).fold(0.0, f64::max);
    if scale == 0.0 { diff } else { diff / scale }
}

/// One compared quantity of a golden case.
#[derive(Debug, Clone)]
pub struct Check {
    /// `case: quantity`.
    pub what: String,
    /// Norm-relative error.
    pub error: f64,
    /// Tolerance it must meet.
    pub tolerance: f64,
}

impl Check {
    /// Compares `actual` with `expected`.
    pub fn new(what: impl Into<String>, actual: &[f64], expected: &[f64], tolerance: f64) -> Self {
        Self {
            what: what.into(),
            error: rel_err(actual, expected),
            tolerance,
        }
    }

    /// Whether the error is within tolerance.
    pub fn passed(&self) -> bool {
        self.error <= self.tolerance
    }
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {}: relative error {:.3e} (tolerance {:.0e})",
            if self.passed() { "ok  " } else { "FAIL" },
            self.what,
            self.error,
            self.tolerance
        )
    }
}
