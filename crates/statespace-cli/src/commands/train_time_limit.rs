//! The time limits of `ssm train` (`--stop-after`, `--stop-before`,
//! `--stop-at`): when a run on a machine lent for a limited time ends at a
//! checkpoint, to be continued with `--resume`.

use std::cell::Cell;
use std::time::{Duration, Instant};

use anyhow::{Result, bail};

/// A run's time limit, checked at each checkpoint.
#[derive(Debug)]
pub enum TimeLimit {
    /// `--stop-after`: stop at the first checkpoint at or past the deadline
    /// (the run can end up to one evaluation interval after it).
    After(Instant),
    /// `--stop-before`: stop at the last checkpoint the run reaches before
    /// the deadline. At each checkpoint the next one is taken to come as
    /// long after it as it came after the one before (or after the start,
    /// for the first); the run stops when that would be past the deadline.
    Before {
        deadline: Instant,
        /// When the previous checkpoint (or the start) was.
        previous: Cell<Instant>,
    },
    /// `--stop-at`: stop after the first step that ends at or past the
    /// deadline, writing a checkpoint there if it falls between evaluations
    /// (`Observer::stop_between`; a run of several ranks stops at the first
    /// evaluation past it instead, as `--stop-after`).
    At(Instant),
}

impl TimeLimit {
    /// The limit from the three options (minutes from `start`; at most one
    /// given, which clap enforces), or none.
    pub fn from_minutes(
        stop_after: Option<f64>,
        stop_before: Option<f64>,
        stop_at: Option<f64>,
        start: Instant,
    ) -> Result<Option<Self>> {
        let at = |flag: &str, minutes: f64| -> Result<Instant> {
            if !(minutes.is_finite() && minutes >= 0.0) {
                bail!("{flag} takes minutes ≥ 0, got {minutes}");
            }
            Ok(start + Duration::from_secs_f64(minutes * 60.0))
        };
        Ok(match (stop_after, stop_before, stop_at) {
            (Some(m), None, None) => Some(Self::After(at("--stop-after", m)?)),
            (None, Some(m), None) => Some(Self::Before {
                deadline: at("--stop-before", m)?,
                previous: Cell::new(start),
            }),
            (None, None, Some(m)) => Some(Self::At(at("--stop-at", m)?)),
            (None, None, None) => None,
            _ => bail!("give one of --stop-after, --stop-before and --stop-at"),
        })
    }

    /// At a checkpoint written at `now`: whether the run stops there.
    pub fn reached(&self, now: Instant) -> bool {
        match self {
            Self::After(deadline) | Self::At(deadline) => now >= *deadline,
            Self::Before { deadline, previous } => {
                let interval = now.saturating_duration_since(previous.replace(now));
                now + interval > *deadline
            }
        }
    }

    /// After a step between checkpoints ended at `now`: whether the run
    /// stops there (only `--stop-at` stops between checkpoints).
    pub fn reached_between(&self, now: Instant) -> bool {
        matches!(self, Self::At(deadline) if now >= *deadline)
    }

    /// The option that set the limit, for the message at the stop.
    pub fn flag(&self) -> &'static str {
        match self {
            Self::After(_) => "--stop-after",
            Self::Before { .. } => "--stop-before",
            Self::At(_) => "--stop-at",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn stop_after_ends_at_the_first_checkpoint_past_the_deadline() {
        let t0 = Instant::now();
        let limit = TimeLimit::from_minutes(Some(1.0), None, None, t0)
            .unwrap()
            .unwrap();
        assert!(!limit.reached(t0 + secs(59)));
        assert!(limit.reached(t0 + secs(60)));
        assert!(limit.reached(t0 + secs(100)));
    }

    #[test]
    fn stop_before_ends_where_the_next_checkpoint_would_be_late() {
        // Checkpoints every 40 s against a 100 s limit: the one at 80 s is
        // the last before it (the next would come at 120 s).
        let t0 = Instant::now();
        let limit = TimeLimit::from_minutes(None, Some(100.0 / 60.0), None, t0)
            .unwrap()
            .unwrap();
        assert!(!limit.reached(t0 + secs(40)));
        assert!(limit.reached(t0 + secs(80)));
        // Judged by the last interval alone: after a slow first one (start-up),
        // a quick second one lets the run go on.
        let limit = TimeLimit::from_minutes(None, Some(100.0 / 60.0), None, t0)
            .unwrap()
            .unwrap();
        assert!(!limit.reached(t0 + secs(45)));
        assert!(!limit.reached(t0 + secs(70)));
        assert!(limit.reached(t0 + secs(90)));
        // A first checkpoint already past the limit stops there.
        let limit = TimeLimit::from_minutes(None, Some(0.0), None, t0)
            .unwrap()
            .unwrap();
        assert!(limit.reached(t0 + secs(1)));
    }

    #[test]
    fn bad_minutes_are_refused_by_name() {
        let t0 = Instant::now();
        let err = TimeLimit::from_minutes(None, Some(-1.0), None, t0).unwrap_err();
        assert!(
            err.to_string().contains("--stop-before takes minutes ≥ 0"),
            "{err}"
        );
        let err = TimeLimit::from_minutes(Some(f64::NAN), None, None, t0).unwrap_err();
        assert!(err.to_string().contains("--stop-after"), "{err}");
        assert!(TimeLimit::from_minutes(Some(1.0), Some(1.0), None, t0).is_err());
        assert!(TimeLimit::from_minutes(None, Some(1.0), Some(1.0), t0).is_err());
        let err = TimeLimit::from_minutes(None, None, Some(f64::INFINITY), t0).unwrap_err();
        assert!(err.to_string().contains("--stop-at"), "{err}");
        assert!(
            TimeLimit::from_minutes(None, None, None, t0)
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn stop_at_ends_at_the_first_step_past_the_deadline() {
        let t0 = Instant::now();
        let limit = TimeLimit::from_minutes(None, None, Some(1.0), t0)
            .unwrap()
            .unwrap();
        // Between checkpoints and at them alike.
        assert!(!limit.reached_between(t0 + secs(59)));
        assert!(limit.reached_between(t0 + secs(60)));
        assert!(!limit.reached(t0 + secs(59)));
        assert!(limit.reached(t0 + secs(61)));
        // The other limits never stop between checkpoints.
        for limit in [
            TimeLimit::from_minutes(Some(1.0), None, None, t0),
            TimeLimit::from_minutes(None, Some(1.0), None, t0),
        ] {
            assert!(!limit.unwrap().unwrap().reached_between(t0 + secs(100)));
        }
    }
}
