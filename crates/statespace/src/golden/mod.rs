//! The golden reference data of the official implementations
//! (state-spaces/s4, mamba_ssm, transformers, goombalab/hydra): where it lives, how its cases
//! are found, and how results are compared with it. Used by the test suite
//! and by `ssm selftest` on any device.

pub mod h3;
pub mod hydra;
pub mod hyena;
pub mod layer;
pub mod lm;
pub mod long_conv;
pub mod lssl;
pub mod mamba3;
pub mod s4;
pub mod s5;
pub mod selective_scan;
pub mod spacetime;
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

/// A golden folder and its `manifest.json`.
#[derive(Debug, Clone)]
pub struct GoldenSet {
    dir: PathBuf,
    manifest: Option<serde_json::Value>,
}

impl GoldenSet {
    /// Opens `dir`, reading its `manifest.json` if there is one. A manifest
    /// that is present but unreadable or not a JSON object is an error (a
    /// malformed manifest must not fall back to defaults).
    pub fn open(dir: impl Into<PathBuf>) -> Result<Self> {
        let dir = dir.into();
        if !dir.is_dir() {
            return Err(Error::Format {
                path: dir,
                message: "golden folder not found (set SSM_GOLDEN_DIR)".into(),
            });
        }
        let path = dir.join("manifest.json");
        let manifest = match std::fs::read_to_string(&path) {
            Ok(text) => {
                let value: serde_json::Value =
                    serde_json::from_str(&text).map_err(|e| Error::Format {
                        path: path.clone(),
                        message: format!("malformed manifest: {e}"),
                    })?;
                if !value.is_object() {
                    return Err(Error::Format {
                        path,
                        message: "malformed manifest: not a JSON object of cases".into(),
                    });
                }
                Some(value)
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => return Err(Error::Io { path, source }),
        };
        Ok(Self { dir, manifest })
    }

    /// The folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The whole manifest, if the folder has one.
    pub fn manifest(&self) -> Option<&serde_json::Value> {
        self.manifest.as_ref()
    }

    /// Every `<prefix>*.safetensors` case, sorted by name; an error if there
    /// is none, so a misplaced folder cannot pass silently.
    pub fn cases(&self, prefix: &str) -> Result<Vec<(String, SafetensorsFile)>> {
        let cases = self.cases_if_any(prefix)?;
        if cases.is_empty() {
            return Err(Error::Format {
                path: self.dir.clone(),
                message: format!("no golden case `{prefix}*.safetensors`"),
            });
        }
        Ok(cases)
    }

    /// Every `<prefix>*.safetensors` case, sorted by name (possibly none).
    /// Fails if the manifest names a case of the prefix whose file is
    /// missing: fewer cases than the manifest lists is an error.
    pub fn cases_if_any(&self, prefix: &str) -> Result<Vec<(String, SafetensorsFile)>> {
        let entries = std::fs::read_dir(&self.dir).map_err(|source| Error::Io {
            path: self.dir.clone(),
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
        if let Some(listed) = self.manifest.as_ref().and_then(|m| m.as_object()) {
            let missing: Vec<&String> = listed
                .keys()
                .filter(|k| k.starts_with(prefix) && !names.contains(k))
                .collect();
            if !missing.is_empty() {
                return Err(Error::Format {
                    path: self.dir.clone(),
                    message: format!(
                        "the manifest lists {missing:?} but their .safetensors files are missing"
                    ),
                });
            }
        }
        names
            .into_iter()
            .map(|case| {
                let file = SafetensorsFile::open(self.dir.join(format!("{case}.safetensors")))?;
                Ok((case, file))
            })
            .collect()
    }
}

/// Every `<prefix>*.safetensors` case in `dir` (see [`GoldenSet::cases`]).
pub fn cases(dir: &Path, prefix: &str) -> Result<Vec<(String, SafetensorsFile)>> {
    GoldenSet::open(dir)?.cases(prefix)
}

/// Norm-relative error max|a − b| / max|b| (the golden README's measure).
/// Infinite — a failure at any tolerance — when either side holds a
/// non-finite value, when the lengths differ, or when the expected values
/// are empty: a NaN, a dropped tensor or a truncated result never passes.
pub fn rel_err(actual: &[f64], expected: &[f64]) -> f64 {
    if actual.len() != expected.len()
        || expected.is_empty()
        || actual.iter().chain(expected).any(|x| !x.is_finite())
    {
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

    /// A quantity the reference holds but we did not produce, or the other
    /// way round: always a failure.
    pub fn missing(what: impl Into<String>, side: &str) -> Self {
        Self {
            what: format!("{} (missing: {side})", what.into()),
            error: f64::INFINITY,
            tolerance: 0.0,
        }
    }

    /// Whether the error is within tolerance (never for a NaN error).
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

/// Compares named results with a reference file both ways: one check per
/// name in `ours` (read from the file as `key(name)`, within
/// `tolerance(stored name)`) and a failing check for every name in
/// `reference_names` that we did not produce. A tensor on one side only is
/// a failure, never a skipped check.
pub fn check_named(
    case: &str,
    ours: &[(String, Vec<f64>)],
    file: &SafetensorsFile,
    reference_names: &[String],
    key: impl Fn(&str) -> String,
    tolerance: impl Fn(&str) -> f64,
) -> Result<Vec<Check>> {
    let mut checks = Vec::with_capacity(ours.len());
    for (name, values) in ours {
        let stored = key(name);
        checks.push(if file.contains(&stored) {
            Check::new(
                format!("{case}: {stored}"),
                values,
                &file.f64(&stored)?.data,
                tolerance(&stored),
            )
        } else {
            Check::missing(format!("{case}: {stored}"), "not in the reference file")
        });
    }
    for stored in reference_names {
        if !ours.iter().any(|(name, _)| &key(name) == stored) {
            checks.push(Check::missing(
                format!("{case}: {stored}"),
                "the reference has it, we computed none",
            ));
        }
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_empty_or_mismatched_values_never_pass() {
        let nan = f64::NAN;
        assert_eq!(rel_err(&[1.0, 2.0], &[1.0, 2.0]), 0.0);
        assert!(rel_err(&[1.0, nan], &[1.0, 2.0]).is_infinite());
        assert!(rel_err(&[1.0, 2.0], &[1.0, nan]).is_infinite());
        assert!(rel_err(&[nan, nan], &[nan, nan]).is_infinite());
        assert!(rel_err(&[1.0], &[f64::INFINITY]).is_infinite());
        assert!(rel_err(&[], &[]).is_infinite());
        assert!(rel_err(&[1.0], &[1.0, 2.0]).is_infinite());
        let check = Check::new("x", &[nan], &[nan], 1.0);
        assert!(!check.passed());
        assert!(!Check::missing("y", "absent").passed());
        let nan_error = Check {
            what: "z".into(),
            error: nan,
            tolerance: 1.0,
        };
        assert!(!nan_error.passed());
    }

    #[test]
    fn malformed_manifest_and_missing_cases_are_errors() {
        let dir = std::env::temp_dir().join(format!("ssm-golden-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("manifest.json"), "{ not json").unwrap();
        assert!(GoldenSet::open(&dir).is_err());
        std::fs::write(dir.join("manifest.json"), "[1, 2]").unwrap();
        assert!(GoldenSet::open(&dir).is_err());
        std::fs::write(dir.join("manifest.json"), r#"{"demo_a": {}, "demo_b": {}}"#).unwrap();
        let empty = safetensors::serialize(
            std::iter::empty::<(String, safetensors::tensor::TensorView<'_>)>(),
            None,
        )
        .unwrap();
        std::fs::write(dir.join("demo_a.safetensors"), &empty).unwrap();
        let set = GoldenSet::open(&dir).unwrap();
        let err = set
            .cases("demo_")
            .err()
            .expect("demo_b is listed but missing");
        assert!(err.to_string().contains("demo_b"), "{err}");
        std::fs::write(dir.join("demo_b.safetensors"), &empty).unwrap();
        assert_eq!(set.cases("demo_").unwrap().len(), 2);
        assert!(set.cases("other_").is_err());
        assert!(set.cases_if_any("other_").unwrap().is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
