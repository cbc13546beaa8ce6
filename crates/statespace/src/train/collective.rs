//! Collectives for data-parallel training: every member of a group of
//! ranks contributes a buffer and receives the element-wise sum over the
//! group, the same bits on every rank.
//!
//! [`Solo`] is the group of one (the ordinary single-device run: every
//! reduction is the identity). [`LocalGroup`] joins ranks that are threads of
//! one process through shared memory, summing in rank order: it is what
//! simulates N ranks on the CPU backend, and what tests prove the
//! data-parallel loop with. Ranks on separate GPUs use NCCL instead (a
//! later transport behind the same trait).

use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use crate::error::{Error, Result};

/// One rank's view of a group of ranks that reduce together. Every member
/// must make the same calls in the same order with buffers of the same
/// length; a member that fails aborts the group, and the others' pending
/// and later calls return an error instead of waiting for it.
pub trait Collective: Send + Sync {
    /// This member's index, 0-based.
    fn rank(&self) -> usize;
    /// Number of members.
    fn size(&self) -> usize;
    /// Replaces `values` with their element-wise sum over the group.
    fn all_reduce_sum(&self, values: &mut [f64]) -> Result<()>;
    /// As [`Collective::all_reduce_sum`], for f32 buffers (gradients).
    fn all_reduce_sum_f32(&self, values: &mut [f32]) -> Result<()>;
    /// Tells the other members that this one stopped (an error): their
    /// waiting calls fail instead of blocking.
    fn abort(&self);
}

/// The group of one: reductions leave their buffers as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct Solo;

impl Collective for Solo {
    fn rank(&self) -> usize {
        0
    }

    fn size(&self) -> usize {
        1
    }

    fn all_reduce_sum(&self, _: &mut [f64]) -> Result<()> {
        Ok(())
    }

    fn all_reduce_sum_f32(&self, _: &mut [f32]) -> Result<()> {
        Ok(())
    }

    fn abort(&self) {}
}

/// What the members of a [`LocalGroup`] share.
#[derive(Debug)]
struct Shared {
    state: Mutex<Round>,
    changed: Condvar,
    size: usize,
}

/// The reduction in progress.
#[derive(Debug, Default)]
struct Round {
    /// Each member's contribution to the current round.
    slots: Vec<Option<Vec<f64>>>,
    /// The sum of the last finished round.
    result: Vec<f64>,
    /// Members that have not yet copied `result` out.
    unread: usize,
    /// Finished rounds.
    generation: u64,
    /// A member failed: every call fails from now on.
    aborted: bool,
}

/// What the error of an aborted group names.
const ABORTED: &str = "data-parallel group";

/// One member of a group of ranks that are threads of one process.
#[derive(Debug, Clone)]
pub struct LocalGroup {
    rank: usize,
    shared: Arc<Shared>,
}

impl LocalGroup {
    /// The `size` members of a new group, rank 0 first; each goes to the
    /// thread that runs that rank.
    pub fn new(size: usize) -> Vec<LocalGroup> {
        let shared = Arc::new(Shared {
            state: Mutex::new(Round {
                slots: vec![None; size],
                ..Round::default()
            }),
            changed: Condvar::new(),
            size,
        });
        (0..size)
            .map(|rank| LocalGroup {
                rank,
                shared: shared.clone(),
            })
            .collect()
    }

    fn aborted() -> Error {
        Error::Numerical {
            what: ABORTED.into(),
            message: "another rank stopped with an error".into(),
        }
    }

    /// Whether `error` is the one a member gets because another member
    /// aborted the group (not a failure of its own).
    pub fn is_abort(error: &Error) -> bool {
        matches!(error, Error::Numerical { what, .. } if what == ABORTED)
    }

    /// Sums `values` over the group: contributions are added in rank
    /// order by the last member to arrive, so every member gets the same
    /// bits whatever the arrival order.
    fn reduce(&self, values: &mut [f64]) -> Result<()> {
        let shared = &*self.shared;
        let round = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        // The previous round's result must be read by everyone first.
        let mut round = wait_until(&shared.changed, round, |r| r.unread == 0);
        if round.aborted {
            return Err(Self::aborted());
        }
        if let Some(len) = round.slots.iter().flatten().next().map(Vec::len)
            && len != values.len()
        {
            round.aborted = true;
            shared.changed.notify_all();
            return Err(Error::Shape {
                tensor: format!("all-reduce buffer of rank {} (values)", self.rank),
                expected: vec![len],
                actual: vec![values.len()],
            });
        }
        round.slots[self.rank] = Some(values.to_vec());
        let generation = round.generation;
        if round.slots.iter().all(Option::is_some) {
            let mut sum = vec![0.0; values.len()];
            for slot in round.slots.iter_mut() {
                let part = slot.take().expect("every slot is filled");
                for (s, v) in sum.iter_mut().zip(part) {
                    *s += v;
                }
            }
            round.result = sum;
            round.unread = shared.size;
            round.generation += 1;
            shared.changed.notify_all();
        }
        let mut round = wait_until(&shared.changed, round, |r| r.generation != generation);
        if round.aborted {
            return Err(Self::aborted());
        }
        values.copy_from_slice(&round.result);
        round.unread -= 1;
        if round.unread == 0 {
            shared.changed.notify_all();
        }
        Ok(())
    }
}

/// Waits on `changed` until `done` holds for the round or the group is
/// aborted.
fn wait_until<'a>(
    changed: &Condvar,
    round: MutexGuard<'a, Round>,
    done: impl Fn(&Round) -> bool,
) -> MutexGuard<'a, Round> {
    changed
        .wait_while(round, |r| !r.aborted && !done(r))
        .unwrap_or_else(|e| e.into_inner())
}

impl Collective for LocalGroup {
    fn rank(&self) -> usize {
        self.rank
    }

    fn size(&self) -> usize {
        self.shared.size
    }

    fn all_reduce_sum(&self, values: &mut [f64]) -> Result<()> {
        self.reduce(values)
    }

    fn all_reduce_sum_f32(&self, values: &mut [f32]) -> Result<()> {
        let mut wide: Vec<f64> = values.iter().map(|&v| f64::from(v)).collect();
        self.reduce(&mut wide)?;
        for (v, w) in values.iter_mut().zip(wide) {
            *v = w as f32;
        }
        Ok(())
    }

    fn abort(&self) {
        let mut round = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        round.aborted = true;
        self.shared.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rank_gets_the_same_sum_round_after_round() {
        let group = LocalGroup::new(4);
        let results: Vec<Vec<Vec<f64>>> = std::thread::scope(|s| {
            let handles: Vec<_> = group
                .iter()
                .map(|member| {
                    s.spawn(move || {
                        (0..50)
                            .map(|round| {
                                let r = member.rank() as f64;
                                let mut v = vec![r, r * 10.0 + round as f64, 0.1];
                                member.all_reduce_sum(&mut v).unwrap();
                                v
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        for (round, sum) in results[0].iter().enumerate() {
            let expected = [6.0, 60.0 + 4.0 * round as f64, 0.1 + 0.1 + 0.1 + 0.1];
            assert_eq!(sum, &expected.to_vec());
            for other in &results[1..] {
                assert_eq!(
                    other[round].iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    sum.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                );
            }
        }
    }

    #[test]
    fn an_aborted_or_mismatched_group_fails_instead_of_waiting() {
        let group = LocalGroup::new(2);
        let (a, b) = (&group[0], &group[1]);
        std::thread::scope(|s| {
            let waiting = s.spawn(move || a.all_reduce_sum(&mut [1.0]));
            b.abort();
            assert!(waiting.join().unwrap().is_err());
        });
        let group = LocalGroup::new(2);
        let (a, b) = (&group[0], &group[1]);
        std::thread::scope(|s| {
            let first = s.spawn(move || a.all_reduce_sum(&mut [1.0, 2.0]));
            std::thread::sleep(std::time::Duration::from_millis(20));
            let err = b.all_reduce_sum(&mut [1.0]).unwrap_err();
            assert!(err.to_string().contains("values"), "{err}");
            assert!(first.join().unwrap().is_err());
        });
    }

    #[test]
    fn solo_leaves_buffers_alone() {
        let mut v = [1.5f32, -2.0];
        Solo.all_reduce_sum_f32(&mut v).unwrap();
        assert_eq!(v, [1.5, -2.0]);
    }
}
