//! Convolution kernels of linear time-invariant SSMs: the sequence
//! K_l = C Āˡ B̄ (l = 0..L) with y = K ∗ u.
//!
//! - [`dense`]: powering a dense discrete system (LSSL; the reference path).
//! - [`vandermonde`]: diagonal systems (S4D, DSS): K_l = 2·Re Σₙ cₙ λₙˡ.
//! - [`dplr`]: diagonal-plus-low-rank systems (S4): the truncated generating
//!   function at the roots of unity through a Cauchy kernel and the Woodbury
//!   identity, then an inverse FFT.

pub mod dense;
pub mod dplr;
pub mod vandermonde;
