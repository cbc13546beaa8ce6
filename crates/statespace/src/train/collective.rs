//! Collectives for parallel training: every member of a group of ranks
//! contributes a buffer and receives the element-wise sum over the group,
//! the same bits on every rank (data parallelism); and messages from one
//! rank to another, received in the order sent (sequence parallelism: the
//! recurrent states between the parts of a sequence).
//!
//! [`Solo`] is the group of one (the ordinary single-device run: every
//! reduction is the identity). [`LocalGroup`] joins ranks that are threads of
//! one process through shared memory, summing in rank order: it is what
//! simulates N ranks on the CPU backend, and what tests prove the
//! data-parallel loop with. Ranks on separate GPUs use NCCL instead (a
//! later transport behind the same trait).

use std::collections::VecDeque;
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
    /// Sends `values` to member `to` (another member) without waiting for
    /// it to receive them.
    fn send_f32(&self, to: usize, values: &[f32]) -> Result<()>;
    /// The oldest message from member `from` not yet received, waiting for
    /// it; fails unless it holds `len` values.
    fn recv_f32(&self, from: usize, len: usize) -> Result<Vec<f32>>;
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

    fn send_f32(&self, to: usize, _: &[f32]) -> Result<()> {
        Err(no_member(to, 1))
    }

    fn recv_f32(&self, from: usize, _: usize) -> Result<Vec<f32>> {
        Err(no_member(from, 1))
    }

    fn abort(&self) {}
}

/// The error of a message to or from a rank that is not another member.
fn no_member(rank: usize, size: usize) -> Error {
    Error::config(
        "collective",
        format!("no rank {rank} to exchange messages with in a group of {size}"),
    )
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
    /// Messages in flight, oldest first: `mail[from * size + to]`.
    mail: Vec<VecDeque<Vec<f32>>>,
}

/// What the error of an aborted group names.
const ABORTED: &str = "parallel group";

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
                mail: vec![VecDeque::new(); size * size],
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

    fn send_f32(&self, to: usize, values: &[f32]) -> Result<()> {
        let size = self.shared.size;
        if to >= size || to == self.rank {
            return Err(no_member(to, size));
        }
        let mut round = self.shared.state.lock().unwrap_or_else(|e| e.into_inner());
        if round.aborted {
            return Err(Self::aborted());
        }
        round.mail[self.rank * size + to].push_back(values.to_vec());
        self.shared.changed.notify_all();
        Ok(())
    }

    fn recv_f32(&self, from: usize, len: usize) -> Result<Vec<f32>> {
        let (shared, size) = (&*self.shared, self.shared.size);
        if from >= size || from == self.rank {
            return Err(no_member(from, size));
        }
        let box_ = from * size + self.rank;
        let round = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        let mut round = wait_until(&shared.changed, round, |r| !r.mail[box_].is_empty());
        if round.aborted {
            return Err(Self::aborted());
        }
        let message = round.mail[box_].pop_front().expect("waited for a message");
        if message.len() != len {
            round.aborted = true;
            shared.changed.notify_all();
            return Err(Error::Shape {
                tensor: format!("message from rank {from} to rank {}", self.rank),
                expected: vec![len],
                actual: vec![message.len()],
            });
        }
        Ok(message)
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
    fn messages_arrive_in_order_and_a_wrong_length_or_an_abort_fails() {
        let group = LocalGroup::new(3);
        let (a, b, c) = (&group[0], &group[1], &group[2]);
        std::thread::scope(|s| {
            let receiver = s.spawn(move || {
                let first = c.recv_f32(0, 2).unwrap();
                let from_b = c.recv_f32(1, 1).unwrap();
                let second = c.recv_f32(0, 1).unwrap();
                (first, from_b, second)
            });
            a.send_f32(2, &[1.0, 2.0]).unwrap();
            a.send_f32(2, &[3.0]).unwrap();
            b.send_f32(2, &[4.0]).unwrap();
            let (first, from_b, second) = receiver.join().unwrap();
            assert_eq!(
                (first, from_b, second),
                (vec![1.0, 2.0], vec![4.0], vec![3.0])
            );
        });
        assert!(a.send_f32(0, &[1.0]).is_err(), "a message to oneself");
        assert!(a.recv_f32(3, 1).is_err(), "a rank outside the group");
        a.send_f32(1, &[1.0, 2.0]).unwrap();
        let err = b.recv_f32(0, 3).unwrap_err();
        assert!(err.to_string().contains("message from rank 0"), "{err}");
        let group = LocalGroup::new(2);
        let (a, b) = (&group[0], &group[1]);
        std::thread::scope(|s| {
            let waiting = s.spawn(move || a.recv_f32(1, 1));
            b.abort();
            assert!(waiting.join().unwrap().is_err());
        });
    }

    #[test]
    fn solo_leaves_buffers_alone() {
        let mut v = [1.5f32, -2.0];
        Solo.all_reduce_sum_f32(&mut v).unwrap();
        assert_eq!(v, [1.5, -2.0]);
        assert!(Solo.send_f32(0, &v).is_err() && Solo.recv_f32(0, 2).is_err());
    }
}
