//! Running host work on the CPU thread pool.
//!
//! The CPU backend's ops and the fused decoder split their loops over
//! rayon's global pool. Called from a thread outside the pool, every such
//! loop is queued into the pool while the caller sleeps until it is done,
//! a sleep and a wake-up per loop. Called from a worker of the pool, the
//! loop splits its work with the other workers directly. [`on_pool`] moves
//! a whole unit of work (a token step, a training step) onto a worker, so
//! the caller waits once for all of its loops.

/// Runs `work` on a worker of rayon's global pool and returns its result;
/// the calling thread blocks until then. Inside the pool already, it runs
/// in place.
///
/// One caller at a time: a worker waiting inside one caller's loop may
/// pick up another caller's whole `work` and run it on top of its stack,
/// and if the first held a lock that the second takes (as the CPU
/// backend's ops may), neither finishes. `ssm train --devices 2` on the
/// CPU hung that way; its ranks call the backend from their own threads
/// ([`on_pool_if`]).
pub fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    rayon::scope(|_| work())
}

/// [`on_pool`] when `alone` (no other thread drives the pool at the same
/// time), else `work` on the calling thread.
pub fn on_pool_if<R: Send>(alone: bool, work: impl FnOnce() -> R + Send) -> R {
    if alone { on_pool(work) } else { work() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_a_worker_and_returns_its_result() {
        let index = on_pool(rayon::current_thread_index);
        assert!(index.is_some(), "ran outside the pool");
        assert_eq!(on_pool(|| on_pool(|| 7)), 7);
        assert_eq!(on_pool_if(false, rayon::current_thread_index), None);
        assert!(on_pool_if(true, rayon::current_thread_index).is_some());
    }
}
