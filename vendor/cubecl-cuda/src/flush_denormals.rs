//! statespace patch: kernels compiled with denormals flushed to zero. A
//! kernel whose entry point starts with a registered prefix is compiled by
//! NVRTC with `--ftz=true`: its f32 arithmetic flushes denormal inputs and
//! results to zero, so that `__expf` is a multiply and one `MUFU.EX2`
//! instead of a range check, two predicated scalings and the exponential
//! (mamba_ssm's kernels, built with `--use_fast_math`, flush as well).

use std::sync::Mutex;

static PREFIXES: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Compiles kernels whose entry point starts with `prefix` with denormals
/// flushed to zero (kernels compiled after this call).
pub fn set_flush_denormals(prefix: &str) {
    let mut prefixes = PREFIXES.lock().unwrap_or_else(|e| e.into_inner());
    if !prefixes.iter().any(|p| p == prefix) {
        prefixes.push(prefix.to_string());
    }
}

/// Whether the kernel `entrypoint` is compiled with denormals flushed.
pub(crate) fn flushes_denormals(entrypoint: &str) -> bool {
    let prefixes = PREFIXES.lock().unwrap_or_else(|e| e.into_inner());
    prefixes.iter().any(|p| entrypoint.starts_with(p.as_str()))
}
