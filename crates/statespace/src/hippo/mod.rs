//! HiPPO: continuous-time state space operators whose state is the online
//! projection of an input onto an orthogonal basis, and their structured
//! (NPLR/DPLR) forms used by S4, and the full diagonalisation S5 starts
//! from.

mod nplr;
pub mod online;
mod s5;
mod transition;

pub use nplr::{Nplr, nplr};
pub use s5::{NormalHippo, normal_legs};
pub use transition::{MAX_N, Measure, Transition, rank_correction, transition};
