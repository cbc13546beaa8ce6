//! statespace patch: per-kernel occupancy hints. A kernel whose entry point
//! starts with a registered prefix is compiled with
//! `__launch_bounds__(units, min_blocks)`, min_blocks being the registered
//! number of resident warps per streaming multiprocessor over the warps of
//! one cube, so NVRTC caps its registers to let that many cubes share one.

use std::sync::Mutex;

/// Threads per warp on NVIDIA GPUs.
const WARP: u32 = 32;

static MIN_WARPS: Mutex<Vec<(String, u32)>> = Mutex::new(Vec::new());

/// Asks for at least `warps` resident warps per streaming multiprocessor
/// for kernels whose entry point starts with `prefix`, whatever their cube
/// size (kernels compiled after this call; the latest hint for a prefix
/// wins; 0 removes it).
pub fn set_min_warps_per_sm(prefix: &str, warps: u32) {
    let mut hints = MIN_WARPS.lock().unwrap_or_else(|e| e.into_inner());
    hints.retain(|(p, _)| p != prefix);
    if warps > 0 {
        hints.push((prefix.to_string(), warps));
    }
}

/// The cubes per streaming multiprocessor to compile the kernel
/// `entrypoint` of `units` threads per cube for, when hinted and above 1;
/// of several hinted prefixes that match, the longest decides.
pub(crate) fn min_blocks_for(entrypoint: &str, units: u32) -> Option<u32> {
    let hints = MIN_WARPS.lock().unwrap_or_else(|e| e.into_inner());
    let (_, warps) = hints
        .iter()
        .filter(|(prefix, _)| entrypoint.starts_with(prefix.as_str()))
        .max_by_key(|(prefix, _)| prefix.len())?;
    let blocks = warps / units.div_ceil(WARP).max(1);
    (blocks > 1).then_some(blocks)
}
