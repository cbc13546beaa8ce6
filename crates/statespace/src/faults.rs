//! Panics that a backend catches on a thread of its own and only logs, kept
//! for callers that must not read back outputs no kernel wrote.
//!
//! CubeCL runs each launch as a task on its device thread under
//! `catch_unwind` and logs a task that panics at warning level. A kernel that
//! panics while it is being built (the first fused FFT-convolution build of
//! 2026-12-07: a mutable operation on a comptime value) is therefore dropped
//! without a word, its outputs keep whatever their buffers held, and the
//! caller goes on. A panic hook (the `ssm` binary's) passes every panic's
//! message to [`record`]; `parity::device_ok`, which `ssm selftest` calls
//! after every batch of checks, [`take`]s them and fails with them.

use std::sync::Mutex;

/// Messages of the panics recorded since the last [`take`].
static CAUGHT: Mutex<Vec<String>> = Mutex::new(Vec::new());

/// Keeps the message of a panic (any thread) until the next [`take`].
pub fn record(message: String) {
    CAUGHT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .push(message);
}

/// The panics recorded since the last call, oldest first (empty where no
/// hook records them, as in the library's own tests). Tested with the hook
/// that feeds it, in the `ssm` binary (`panics.rs`).
pub fn take() -> Vec<String> {
    std::mem::take(
        &mut *CAUGHT
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()),
    )
}
