//! Running host work on the CPU thread pool.
//!
//! The CPU backend's ops and the fused decoder split their loops over
//! rayon's global pool. Called from a thread outside the pool, every such
//! loop is queued into the pool while the caller sleeps until it is done,
//! a sleep and a wake-up per loop. Called from a worker of the pool, the
//! loop splits its work with the other workers directly. [`on_pool`] moves
//! a whole unit of work (a token step, a training step) onto a worker, so
//! the caller waits once for all of its loops; [`OwnPool`] does the same
//! on a pool of the caller's own.
//!
//! Both keep the caller's GPU stream. CubeCL gives each thread a stream of
//! its own, with a memory pool per stream. So a training step ran on the
//! stream of whichever worker took it, and its tensors could cross streams
//! from one step to the next. Under CPU load, with a second process on the
//! GPU, a Mamba run on MQAR fell from 98 % to chance within 1,000 steps
//! (docs/ARCHITECTURE.md, "One stream per run"). The work now runs on the
//! caller's stream whichever worker runs it, so one run's GPU work stays on
//! one stream, in order.

use crate::error::{Error, Result};

/// Runs `work` on a worker of rayon's global pool and returns its result;
/// the calling thread blocks until then. Inside the pool already, it runs
/// in place.
///
/// One caller at a time: a worker waiting inside one caller's loop may
/// pick up another caller's whole `work` and run it on top of its stack,
/// and if the first held a lock that the second takes (as the CPU
/// backend's ops may), neither finishes. `ssm train --devices 2` on the
/// CPU hung that way; its ranks call the backend from their own threads,
/// and a single rank runs its steps on an [`OwnPool`].
pub fn on_pool<R: Send>(work: impl FnOnce() -> R + Send) -> R {
    let work = on_callers_stream(work);
    rayon::scope(|_| work())
}

/// `work`, to be run on another thread, on the calling thread's GPU stream
/// (CubeCL's stream identifier, which is per thread unless set); without
/// the `cuda` feature there is no GPU stream and `work` is returned as is.
#[cfg(feature = "cuda")]
fn on_callers_stream<R>(work: impl FnOnce() -> R + Send) -> impl FnOnce() -> R + Send {
    let stream = cubecl::stream_id::StreamId::current();
    move || stream.executes(work)
}

#[cfg(not(feature = "cuda"))]
fn on_callers_stream<R>(work: impl FnOnce() -> R + Send) -> impl FnOnce() -> R + Send {
    work
}

/// A thread pool of one caller's own, as many workers as rayon's global
/// pool, for [`on_pool`]'s purpose where other threads may drive the
/// global pool at the same time (a library user's threads, or the other
/// tests of a test binary): its workers take only this caller's work, so
/// the hazard [`on_pool`] names cannot arise between callers. A training
/// step on the global pool beside another thread's backward pass hung that
/// way: a worker waiting inside the backward's loop took the whole step,
/// whose backward then waited for the first one's graph (burn's autodiff
/// graphs lock each other when cleaning up).
pub struct OwnPool(rayon::ThreadPool);

impl OwnPool {
    /// A fresh pool; fails if its threads cannot be started.
    pub fn new() -> Result<Self> {
        rayon::ThreadPoolBuilder::new()
            .num_threads(rayon::current_num_threads())
            .build()
            .map(OwnPool)
            .map_err(|e| Error::Numerical {
                what: "thread pool".into(),
                message: e.to_string(),
            })
    }

    /// Runs `work` on a worker of this pool, its loops split over this
    /// pool's workers, and returns its result; the calling thread blocks
    /// until then. Call it from a thread outside every rayon pool: a
    /// worker of another pool would take other work while it waits.
    pub fn run<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        self.0.install(on_callers_stream(work))
    }
}

/// `work` on `pool` when there is one, else on the calling thread.
pub fn on_own_pool_if<R: Send>(pool: Option<&OwnPool>, work: impl FnOnce() -> R + Send) -> R {
    match pool {
        Some(pool) => pool.run(work),
        None => work(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn work_runs_on_a_worker_and_returns_its_result() {
        let index = on_pool(rayon::current_thread_index);
        assert!(index.is_some(), "ran outside the pool");
        assert_eq!(on_pool(|| on_pool(|| 7)), 7);
        let own = OwnPool::new().unwrap();
        assert_eq!(on_own_pool_if(None, rayon::current_thread_index), None);
        assert!(on_own_pool_if(Some(&own), rayon::current_thread_index).is_some());
        let total: u64 = own.run(|| {
            use rayon::prelude::*;
            (0..1000u64).into_par_iter().sum()
        });
        assert_eq!(total, 499_500);
    }

    /// Work moved onto a worker keeps the caller's GPU stream, whichever
    /// worker runs it, and the worker gets its own stream back afterwards.
    #[cfg(feature = "cuda")]
    #[test]
    fn work_on_a_worker_keeps_the_callers_stream() {
        use cubecl::stream_id::StreamId;
        let caller = StreamId::current();
        let own = OwnPool::new().unwrap();
        for _ in 0..20 {
            assert_eq!(own.run(StreamId::current), caller);
            assert_eq!(on_pool(StreamId::current), caller);
        }
        let worker = own.0.broadcast(|_| StreamId::current());
        assert!(
            worker.iter().all(|&s| s != caller),
            "a worker kept the caller's stream"
        );
    }
}
