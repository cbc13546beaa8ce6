//! HiPPO: continuous-time state space operators whose state is the online
//! projection of an input onto an orthogonal basis, and their structured
//! (NPLR/DPLR) forms used by S4.

mod nplr;
pub mod online;
mod transition;

pub use nplr::{Nplr, nplr};
pub use transition::{MAX_N, Measure, Transition, rank_correction, transition};
