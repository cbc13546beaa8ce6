//! How f32 products are computed on NVIDIA GPUs: in full f32 (the
//! default), or with TF32 tensor cores, PyTorch's
//! `torch.backends.cuda.matmul.allow_tf32 = True`
//! (`torch.set_float32_matmul_precision("high")`). TF32 rounds each operand
//! to a 10-bit mantissa and accumulates in f32: products are several times
//! faster on Ampere and later GPUs and about 1e-3 relative away from f32.
//! PyTorch enabled it by default for products from 1.7 to 1.11 (2020–2022).
//!
//! A process-wide setting, as PyTorch's is; the CPU ignores it (its products
//! are always f32), and so do 16-bit and f64 operands.

use std::sync::atomic::{AtomicBool, Ordering};

static TF32: AtomicBool = AtomicBool::new(false);

/// Whether f32 products may use TF32 tensor cores (see the module doc).
pub fn tf32_allowed() -> bool {
    TF32.load(Ordering::Relaxed)
}

/// Allows or forbids TF32 for f32 products from now on, process-wide, and
/// returns a guard that restores the previous setting when dropped.
#[must_use = "the previous setting comes back when the guard drops"]
pub fn allow_tf32(allow: bool) -> Tf32Guard {
    Tf32Guard {
        previous: TF32.swap(allow, Ordering::Relaxed),
    }
}

/// Restores the TF32 setting that [`allow_tf32`] replaced.
#[derive(Debug)]
pub struct Tf32Guard {
    previous: bool,
}

impl Drop for Tf32Guard {
    fn drop(&mut self) {
        TF32.store(self.previous, Ordering::Relaxed);
    }
}

/// Held by the tests that set the flag, which share the process.
#[cfg(test)]
pub(crate) static TEST_LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());

#[cfg(test)]
mod tests {
    use super::*;

    /// Guards nest and restore in reverse order.
    #[test]
    fn guards_restore_the_previous_setting() {
        let _lock = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        assert!(!tf32_allowed());
        {
            let _outer = allow_tf32(true);
            assert!(tf32_allowed());
            {
                let _inner = allow_tf32(false);
                assert!(!tf32_allowed());
            }
            assert!(tf32_allowed());
        }
        assert!(!tf32_allowed());
    }
}
