//! Shared helpers of the golden tests: where the reference data lives and how
//! results are compared with it.
#![allow(dead_code)] // each test binary uses a subset

use std::path::PathBuf;

use statespace::io::SafetensorsFile;

/// The golden reference folder: `SSM_GOLDEN_DIR`, else `../shared/golden`.
/// A relative path is taken from the repository root (where `cargo test` is
/// usually run), not from the crate folder cargo runs tests in.
pub fn golden_dir() -> PathBuf {
    let repo_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = match std::env::var_os("SSM_GOLDEN_DIR") {
        Some(d) => {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                repo_root.join(d)
            }
        }
        None => repo_root.join("../shared/golden"),
    };
    assert!(
        dir.is_dir(),
        "golden reference folder {} not found: set SSM_GOLDEN_DIR",
        dir.display()
    );
    dir
}

/// Every golden file whose name starts with `prefix` and ends in
/// `.safetensors`, sorted. Panics when there is none, so a misplaced folder
/// cannot pass silently.
pub fn golden_cases(prefix: &str) -> Vec<(String, SafetensorsFile)> {
    let dir = golden_dir();
    let mut cases: Vec<(String, SafetensorsFile)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            let case = name.strip_suffix(".safetensors")?;
            case.starts_with(prefix).then(|| case.to_string())
        })
        .map(|case| {
            let file = SafetensorsFile::open(dir.join(format!("{case}.safetensors")))
                .unwrap_or_else(|e| panic!("{e}"));
            (case, file)
        })
        .collect();
    cases.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(
        !cases.is_empty(),
        "no golden case `{prefix}*` in {}",
        dir.display()
    );
    cases
}

/// Norm-relative error max|a − b| / max|b| (the golden README's measure).
pub fn rel_err(actual: &[f64], expected: &[f64]) -> f64 {
    assert_eq!(actual.len(), expected.len(), "length mismatch");
    let diff = actual
        .iter()
        .zip(expected)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    let scale = expected.iter().map(|b| b.abs()).fold(0.0, f64::max);
    if scale == 0.0 { diff } else { diff / scale }
}

/// Asserts `rel_err(actual, expected) <= tol`, naming `what` on failure.
pub fn assert_close(what: &str, actual: &[f64], expected: &[f64], tol: f64) {
    assert!(
        actual.iter().all(|x| x.is_finite()),
        "{what}: result has non-finite values"
    );
    let err = rel_err(actual, expected);
    assert!(err <= tol, "{what}: relative error {err:.3e} > {tol:.0e}");
    eprintln!("{what}: relative error {err:.3e} (tolerance {tol:.0e})");
}
