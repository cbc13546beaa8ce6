//! Panics from deep inside a backend (a failed device allocation, a
//! driver fault) become errors that say what happened and what to do,
//! instead of a backtrace.

use std::panic::{self, AssertUnwindSafe};
use std::sync::Mutex;

use anyhow::{Result, anyhow};

/// The message and place of the last panic, recorded by the hook.
static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);

/// Runs `work`; a panic inside it returns an error instead of aborting the
/// process with a backtrace.
pub fn catch(work: impl FnOnce() -> Result<()>) -> Result<()> {
    panic::set_hook(Box::new(|info| {
        let message = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "(no message)".into());
        let place = info
            .location()
            .map(|l| format!(" at {}:{}", l.file(), l.line()))
            .unwrap_or_default();
        if let Ok(mut last) = LAST_PANIC.lock() {
            *last = Some(format!("{message}{place}"));
        }
    }));
    let outcome = panic::catch_unwind(AssertUnwindSafe(work));
    let _ = panic::take_hook();
    outcome.unwrap_or_else(|_| {
        let message = LAST_PANIC
            .lock()
            .ok()
            .and_then(|mut m| m.take())
            .unwrap_or_else(|| "(no message)".into());
        Err(explain(&message))
    })
}

/// The error for a panic message: out-of-memory gets advice, anything else
/// is reported as a bug.
fn explain(message: &str) -> anyhow::Error {
    let lower = message.to_lowercase();
    let oom = ["out of memory", "outofmemory", "out_of_memory"]
        .iter()
        .any(|k| lower.contains(k));
    if oom {
        anyhow!(
            "the device ran out of memory ({message}). Lower --batch or the sequence length, \
             or run with --device cpu"
        )
    } else {
        anyhow!("internal error (please report it): {message}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn panics_become_errors() {
        let err = catch(|| panic!("CUDA_ERROR_OUT_OF_MEMORY while allocating")).unwrap_err();
        assert!(err.to_string().contains("ran out of memory"), "{err}");
        let err = catch(|| panic!("index out of bounds")).unwrap_err();
        assert!(err.to_string().starts_with("internal error"), "{err}");
        assert!(catch(|| Ok(())).is_ok());
    }
}
