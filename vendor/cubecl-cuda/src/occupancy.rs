//! statespace patch: per-kernel occupancy hints. A kernel whose entry point
//! starts with a registered prefix is compiled with
//! `__launch_bounds__(units, min_blocks)`, so NVRTC caps its registers to
//! let `min_blocks` cubes share a streaming multiprocessor.

use std::sync::Mutex;

static MIN_BLOCKS: Mutex<Vec<(String, u32)>> = Mutex::new(Vec::new());

/// Asks for at least `min_blocks` resident cubes per streaming
/// multiprocessor for kernels whose entry point starts with `prefix`
/// (compiled after this call; the latest hint for a prefix wins; 1 removes
/// the hint).
pub fn set_min_blocks_per_sm(prefix: &str, min_blocks: u32) {
    let mut hints = MIN_BLOCKS.lock().unwrap_or_else(|e| e.into_inner());
    hints.retain(|(p, _)| p != prefix);
    if min_blocks > 1 {
        hints.push((prefix.to_string(), min_blocks));
    }
}

/// The hint for the kernel `entrypoint`, if any.
pub(crate) fn min_blocks_for(entrypoint: &str) -> Option<u32> {
    let hints = MIN_BLOCKS.lock().unwrap_or_else(|e| e.into_inner());
    hints
        .iter()
        .find(|(prefix, _)| entrypoint.starts_with(prefix.as_str()))
        .map(|(_, n)| *n)
}
