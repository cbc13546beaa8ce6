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
//! data-parallel loop with. Ranks on separate GPUs add NCCL for the
//! gradients (`nccl_group`, with the `cuda` feature).

use std::any::Any;
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
    /// Whether [`Collective::all_reduce_sum_in_place`] can take `tensor`, a
    /// backend's float tensor primitive: only NCCL's group has a device
    /// path (contiguous f32 CUDA tensors whose buffer no other tensor
    /// shares). Looks at the tensor only, without waiting.
    fn can_reduce_in_place(&self, tensor: &dyn Any) -> bool {
        let _ = tensor;
        false
    }
    /// Replaces the values of `tensor` by their sum over the group, on its
    /// device. Every rank must call it together, each with a tensor that
    /// [`Collective::can_reduce_in_place`] accepted on every rank (agree on
    /// that first, through a host reduction): a rank that does not call
    /// leaves the others' sums waiting on their devices.
    fn all_reduce_sum_in_place(&self, tensor: &dyn Any) -> Result<()> {
        let _ = tensor;
        Err(Error::config(
            "collective",
            "this transport has no device path: sum through host memory",
        ))
    }
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

/// A member's buffer in a reduction, shared with the members that sum it.
#[derive(Debug, Clone)]
enum Buffer {
    F32(Arc<Vec<f32>>),
    F64(Arc<Vec<f64>>),
}

/// A float type the group sums: every element is added in f64, in rank
/// order, and rounded once.
trait Summand: Copy + Send + Sync + 'static {
    fn wide(self) -> f64;
    fn narrow(sum: f64) -> Self;
    fn buffer(values: Vec<Self>) -> Buffer;
    /// The values of `buffer`, if it holds this type.
    fn values(buffer: &Buffer) -> Option<&Arc<Vec<Self>>>;
}

impl Summand for f32 {
    fn wide(self) -> f64 {
        f64::from(self)
    }
    fn narrow(sum: f64) -> Self {
        sum as f32
    }
    fn buffer(values: Vec<Self>) -> Buffer {
        Buffer::F32(Arc::new(values))
    }
    fn values(buffer: &Buffer) -> Option<&Arc<Vec<Self>>> {
        match buffer {
            Buffer::F32(v) => Some(v),
            Buffer::F64(_) => None,
        }
    }
}

impl Summand for f64 {
    fn wide(self) -> f64 {
        self
    }
    fn narrow(sum: f64) -> Self {
        sum
    }
    fn buffer(values: Vec<Self>) -> Buffer {
        Buffer::F64(Arc::new(values))
    }
    fn values(buffer: &Buffer) -> Option<&Arc<Vec<Self>>> {
        match buffer {
            Buffer::F64(v) => Some(v),
            Buffer::F32(_) => None,
        }
    }
}

/// Every member's buffer of a phase, as `T`: all are in when it is read
/// (the members checked their kinds before handing them in).
fn handed_in<T: Summand>(buffers: &[Option<Buffer>]) -> Vec<Arc<Vec<T>>> {
    buffers
        .iter()
        .map(|b| {
            b.as_ref()
                .and_then(T::values)
                .expect("every member's buffer, of one kind")
                .clone()
        })
        .collect()
}

/// Where the reduction in progress is.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Members hand in their buffers.
    #[default]
    Collect,
    /// Every buffer is in: each member sums its slice of the elements.
    Sum,
    /// Every slice is summed: each member copies them all out.
    Gather,
}

/// The reduction in progress, and the messages in flight.
#[derive(Debug, Default)]
struct Round {
    phase: Phase,
    /// Each member's buffer (phase `Collect` on).
    inputs: Vec<Option<Buffer>>,
    /// Each member's slice of the sum (phase `Sum` on).
    slices: Vec<Option<Buffer>>,
    /// Members done with the current phase.
    done: usize,
    /// A member failed: every call fails from now on.
    aborted: bool,
    /// Messages in flight, oldest first: `mail[from * size + to]`.
    mail: Vec<VecDeque<Vec<f32>>>,
}

impl Round {
    /// Ends the phase once all `size` members are done with it.
    fn finish_phase(&mut self, size: usize, next: Phase, changed: &Condvar) {
        self.done += 1;
        if self.done == size {
            self.done = 0;
            self.phase = next;
            if next == Phase::Collect {
                self.inputs.iter_mut().for_each(|b| *b = None);
                self.slices.iter_mut().for_each(|b| *b = None);
            }
            changed.notify_all();
        }
    }
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
                inputs: vec![None; size],
                slices: vec![None; size],
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

    /// Sums `values` over the group, every element added in f64 in rank
    /// order and rounded once, so every member gets the same bits whatever
    /// the arrival order. The members share the work: each sums a slice of
    /// the elements (a reduce-scatter), then copies every slice out (an
    /// all-gather); the lock is held only to hand buffers over.
    fn reduce<T: Summand>(&self, values: &mut [T]) -> Result<()> {
        let (shared, size, me) = (&*self.shared, self.shared.size, self.rank);
        let own = T::buffer(values.to_vec());
        let round = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        // The previous reduction must be over for every member first.
        let mut round = wait_until(&shared.changed, round, |r| {
            r.phase == Phase::Collect && r.inputs[me].is_none()
        });
        if round.aborted {
            return Err(Self::aborted());
        }
        let other = round.inputs.iter().flatten().next().map(|b| match b {
            Buffer::F32(v) => (v.len(), "f32"),
            Buffer::F64(v) => (v.len(), "f64"),
        });
        let my_kind = match &own {
            Buffer::F32(_) => "f32",
            Buffer::F64(_) => "f64",
        };
        if let Some((len, kind)) = other
            && (len != values.len() || kind != my_kind)
        {
            round.aborted = true;
            shared.changed.notify_all();
            return Err(Error::Shape {
                tensor: format!(
                    "all-reduce buffer of rank {me} ({} {my_kind} values; another rank gave {kind})",
                    values.len()
                ),
                expected: vec![len],
                actual: vec![values.len()],
            });
        }
        round.inputs[me] = Some(own);
        round.finish_phase(size, Phase::Sum, &shared.changed);
        let round = wait_until(&shared.changed, round, |r| r.phase == Phase::Sum);
        if round.aborted {
            return Err(Self::aborted());
        }
        let inputs: Vec<Arc<Vec<T>>> = handed_in(&round.inputs);
        drop(round);
        let n = values.len();
        let my_slice = me * n / size..(me + 1) * n / size;
        let slice: Vec<T> = my_slice
            .map(|i| T::narrow(inputs.iter().fold(0.0, |acc, v| acc + v[i].wide())))
            .collect();
        drop(inputs);
        let mut round = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        if round.aborted {
            return Err(Self::aborted());
        }
        round.slices[me] = Some(T::buffer(slice));
        round.finish_phase(size, Phase::Gather, &shared.changed);
        let round = wait_until(&shared.changed, round, |r| r.phase == Phase::Gather);
        // Every slice is in once the phase is Gather: the sum is complete
        // even if a member has since aborted (after its own reduction).
        if round.phase != Phase::Gather {
            return Err(Self::aborted());
        }
        let slices: Vec<Arc<Vec<T>>> = handed_in(&round.slices);
        drop(round);
        for (k, slice) in slices.iter().enumerate() {
            values[k * n / size..(k + 1) * n / size].copy_from_slice(slice);
        }
        drop(slices);
        let mut round = shared.state.lock().unwrap_or_else(|e| e.into_inner());
        round.finish_phase(size, Phase::Collect, &shared.changed);
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
        self.reduce(values)
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
    fn f32_sums_are_added_in_f64_and_rounded_once_on_every_rank() {
        let group = LocalGroup::new(3);
        let contribution = |r: usize| -> Vec<f32> {
            (0..7)
                .map(|i| match r {
                    0 => 1e8,
                    1 => 1.0 + i as f32,
                    _ => -1e8,
                })
                .collect()
        };
        let results: Vec<Vec<f32>> = std::thread::scope(|s| {
            let handles: Vec<_> = group
                .iter()
                .map(|member| {
                    s.spawn(move || {
                        let mut v = contribution(member.rank());
                        member.all_reduce_sum_f32(&mut v).unwrap();
                        v
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let expected: Vec<f32> = (0..7).map(|i| 1.0 + i as f32).collect();
        for r in &results {
            assert_eq!(r, &expected, "f32 arithmetic would lose the small terms");
        }
        // A rank that sums f64 while another sums f32 is an error, not a mix.
        let group = LocalGroup::new(2);
        let (a, b) = (&group[0], &group[1]);
        std::thread::scope(|s| {
            let first = s.spawn(move || a.all_reduce_sum_f32(&mut [1.0]));
            std::thread::sleep(std::time::Duration::from_millis(20));
            assert!(b.all_reduce_sum(&mut [1.0]).is_err());
            assert!(first.join().unwrap().is_err());
        });
    }

    #[test]
    fn a_sum_every_member_contributed_to_survives_a_later_abort() {
        // Rank 1 aborts as soon as its reduction returns; rank 0, perhaps
        // not yet awake, still gets the finished sum.
        for _ in 0..200 {
            let group = LocalGroup::new(2);
            let (a, b) = (&group[0], &group[1]);
            let first = std::thread::scope(|s| {
                let first = s.spawn(move || {
                    let mut v = [1.0f32, 2.0, 3.0];
                    a.all_reduce_sum_f32(&mut v).map(|()| v)
                });
                let mut v = [10.0f32, 20.0, 30.0];
                b.all_reduce_sum_f32(&mut v).unwrap();
                b.abort();
                first.join().unwrap()
            });
            assert_eq!(first.unwrap(), [11.0, 22.0, 33.0]);
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
