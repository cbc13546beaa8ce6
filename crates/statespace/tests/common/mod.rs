//! Shared helpers of the golden tests: where the reference data lives and how
//! results are compared with it.
#![allow(dead_code)] // each test binary uses a subset

use std::path::PathBuf;

use statespace::golden::{self, Check};
use statespace::io::SafetensorsFile;

/// The golden reference folder: `SSM_GOLDEN_DIR` (relative paths from the
/// repository root, where `cargo test` is usually run), else
/// `../shared/golden` next to the repository.
pub fn golden_dir() -> PathBuf {
    let repo_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = golden::golden_dir(&repo_root);
    assert!(
        dir.is_dir(),
        "golden reference folder {} not found: set SSM_GOLDEN_DIR",
        dir.display()
    );
    dir
}

/// Every golden case whose file name starts with `prefix`; panics on none.
pub fn golden_cases(prefix: &str) -> Vec<(String, SafetensorsFile)> {
    golden::cases(&golden_dir(), prefix).unwrap_or_else(|e| panic!("{e}"))
}

/// Asserts `rel_err(actual, expected) <= tol`, naming `what` on failure.
pub fn assert_close(what: &str, actual: &[f64], expected: &[f64], tol: f64) {
    assert_checks(&[Check::new(what, actual, expected, tol)]);
}

/// Prints every check and fails on the first that is out of tolerance.
pub fn assert_checks(checks: &[Check]) {
    for check in checks {
        eprintln!("{check}");
    }
    for check in checks {
        assert!(check.passed(), "{check}");
    }
}
