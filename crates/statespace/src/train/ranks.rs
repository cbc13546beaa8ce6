//! Ranks: one closure per device, rank 0 on the caller's thread and the
//! others on threads of their own, joined by the group's transport. One
//! device runs alone with [`Solo`]; several share a [`LocalGroup`], with
//! NCCL's communicators beside it on CUDA GPUs where NCCL loads
//! (`nccl_group`). A rank that fails or panics aborts the group, so the
//! others stop instead of waiting for it.

use std::any::Any;

use super::collective::{Collective, LocalGroup, Solo};
use crate::error::{Error, Result};

/// How a group's ranks sum their gradients.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// One rank: nothing to sum.
    Solo,
    /// Through host memory ([`LocalGroup`]).
    Host,
    /// NCCL on the GPUs; the rest through host memory.
    Nccl,
}

impl Transport {
    /// Its name in reports: `solo`, `host` or `nccl`.
    pub fn name(self) -> &'static str {
        match self {
            Transport::Solo => "solo",
            Transport::Host => "host",
            Transport::Nccl => "nccl",
        }
    }
}

/// What the ranks of [`on_ranks`] returned.
#[derive(Debug)]
pub struct RankOutcome<L, T> {
    /// Rank 0's result.
    pub lead: Result<L>,
    /// The other ranks' results, rank order (a panic is an error).
    pub others: Vec<Result<T>>,
    /// How the ranks summed.
    pub transport: Transport,
}

impl<L, T> RankOutcome<L, T> {
    /// Every rank's value (rank 0's, then the others' in rank order) where
    /// every rank succeeded; else the first failing rank's own error, not
    /// another rank's report of the abort it caused.
    pub fn into_all(self) -> Result<(L, Vec<T>)> {
        let mut errors = Vec::new();
        let lead = self.lead.map_err(|e| errors.push(e)).ok();
        let others: Vec<T> = self
            .others
            .into_iter()
            .filter_map(|r| r.map_err(|e| errors.push(e)).ok())
            .collect();
        match lead {
            Some(lead) if errors.is_empty() => Ok((lead, others)),
            _ => {
                let own = errors.iter().position(|e| !LocalGroup::is_abort(e));
                Err(errors.swap_remove(own.unwrap_or(0)))
            }
        }
    }

    /// Rank 0's value where every rank succeeded; else as
    /// [`Self::into_all`].
    pub fn into_lead(self) -> Result<L> {
        self.into_all().map(|(lead, _)| lead)
    }
}

/// Aborts a group when dropped armed: a rank that leaves by an error or a
/// panic must not leave the others waiting.
struct AbortOnDrop<'a>(Option<&'a dyn Collective>);

impl AbortOnDrop<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for AbortOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(member) = self.0 {
            member.abort();
        }
    }
}

/// `work` as one rank: its error or panic (unwinding drops the guard)
/// aborts the group.
fn guarded<D, R>(
    member: &dyn Collective,
    device: &D,
    work: impl FnOnce(&dyn Collective, &D) -> Result<R>,
) -> Result<R> {
    let guard = AbortOnDrop(Some(member));
    let out = work(member, device);
    if out.is_ok() {
        guard.disarm();
    }
    out
}

/// The error of a rank whose thread panicked, with the panic's message.
fn panicked(payload: &(dyn Any + Send)) -> Error {
    let message = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "no message".into());
    Error::Numerical {
        what: "parallel rank".into(),
        message: format!("a rank's thread panicked: {message}"),
    }
}

/// Runs `lead` as rank 0 on `devices[0]` on this thread and `other` as
/// each further rank r on `devices[r]` on a thread of its own, every rank
/// with its member of one group (see the module doc for the transport).
pub fn on_ranks<D, L, T>(
    devices: &[D],
    lead: impl FnOnce(&dyn Collective, &D) -> Result<L>,
    other: impl Fn(&dyn Collective, &D) -> Result<T> + Sync,
) -> RankOutcome<L, T>
where
    D: Any + Sync,
    T: Send,
{
    let outcome = |lead, others, transport| RankOutcome {
        lead,
        others,
        transport,
    };
    match devices {
        [] => {
            return outcome(
                Err(Error::config("devices", "needs at least one device")),
                Vec::new(),
                Transport::Solo,
            );
        }
        [device] => return outcome(lead(&Solo, device), Vec::new(), Transport::Solo),
        _ => {}
    }
    let group = LocalGroup::new(devices.len());
    #[cfg(feature = "cuda")]
    let clique = super::nccl_group::clique_for(devices);
    #[cfg(feature = "cuda")]
    let nccl = clique
        .as_ref()
        .map(|clique| super::nccl_group::NcclGroup::members(clique, &group));
    #[cfg(feature = "cuda")]
    let (members, transport): (Vec<&dyn Collective>, _) = match &nccl {
        Some(nccl) => (
            nccl.iter().map(|m| m as &dyn Collective).collect(),
            Transport::Nccl,
        ),
        None => (
            group.iter().map(|m| m as &dyn Collective).collect(),
            Transport::Host,
        ),
    };
    #[cfg(not(feature = "cuda"))]
    let (members, transport): (Vec<&dyn Collective>, _) = (
        group.iter().map(|m| m as &dyn Collective).collect(),
        Transport::Host,
    );
    let other = &other;
    let (lead, others) = std::thread::scope(|scope| {
        let handles: Vec<_> = members[1..]
            .iter()
            .zip(&devices[1..])
            .map(|(&member, device)| scope.spawn(move || guarded(member, device, other)))
            .collect();
        let lead = guarded(members[0], &devices[0], lead);
        let others: Vec<Result<T>> = handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|payload| Err(panicked(payload.as_ref())))
            })
            .collect();
        (lead, others)
    });
    outcome(lead, others, transport)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failing_ranks_own_error_is_reported_not_an_abort() {
        let group = LocalGroup::new(2);
        group[1].abort();
        let abort = group[0].all_reduce_sum(&mut [0.0]).unwrap_err();
        assert!(LocalGroup::is_abort(&abort));
        let outcome = RankOutcome::<(), ()> {
            lead: Ok(()),
            others: vec![Err(abort), Err(Error::config("task.path", "no such file"))],
            transport: Transport::Host,
        };
        let error = outcome.into_all().unwrap_err();
        assert!(error.to_string().contains("no such file"), "{error}");
    }

    #[test]
    fn a_rank_that_panics_is_an_error_with_its_message() {
        let outcome = on_ranks(
            &[(), ()],
            |member, _| member.all_reduce_sum(&mut [1.0]),
            |_, _| -> Result<()> { panic!("the device ran out of memory") },
        );
        assert_eq!(outcome.transport, Transport::Host);
        let error = outcome.into_lead().unwrap_err();
        assert!(error.to_string().contains("ran out of memory"), "{error}");
    }
}
