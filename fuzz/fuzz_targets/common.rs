//! A scratch file per fuzzing process, for the readers that take paths.

use std::path::PathBuf;

/// Writes `bytes` to this process's scratch file `name` and returns its path.
pub fn scratch_file(name: &str, bytes: &[u8]) -> PathBuf {
    let path = std::env::temp_dir().join(format!("statespace-fuzz-{}-{name}", std::process::id()));
    std::fs::write(&path, bytes).expect("scratch file");
    path
}
