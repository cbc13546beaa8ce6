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
        // A backend's worker thread may catch this panic itself and go on
        // (CubeCL's device thread does): statespace::faults keeps it for
        // callers that check, such as the selftest.
        statespace::faults::record(format!("{message}{place}"));
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

    /// The hook and the last panic are process-wide: these tests take turns.
    static TEST_LOCK: Mutex<()> = Mutex::new(());

    #[test]
    fn panics_become_errors() {
        let _turn = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let err = catch(|| panic!("CUDA_ERROR_OUT_OF_MEMORY while allocating")).unwrap_err();
        assert!(err.to_string().contains("ran out of memory"), "{err}");
        let err = catch(|| panic!("index out of bounds")).unwrap_err();
        assert!(err.to_string().starts_with("internal error"), "{err}");
        assert!(catch(|| Ok(())).is_ok());
    }

    /// A panic that another thread catches (as CubeCL's device thread
    /// catches a kernel that panics while being built) is kept for the
    /// selftest, whose next batch of checks then fails with its message
    /// instead of reading back outputs nothing wrote.
    #[test]
    fn a_panic_caught_on_another_thread_fails_the_selftest() {
        let _turn = TEST_LOCK.lock().unwrap_or_else(|e| e.into_inner());
        let marker = "kernel build failed on the device thread (test)";
        catch(|| {
            let caught = std::thread::spawn(move || panic::catch_unwind(|| panic!("{marker}")))
                .join()
                .unwrap();
            assert!(caught.is_err());
            let device = Default::default();
            let err = statespace::parity::device_ok::<burn::backend::Flex>(&device).unwrap_err();
            assert!(err.to_string().contains(marker), "{err}");
            assert!(statespace::parity::device_ok::<burn::backend::Flex>(&device).is_ok());
            Ok(())
        })
        .unwrap();
    }
}
