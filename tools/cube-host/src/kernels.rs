//! Kernel sources copied from statespace by prepare.sh.
pub mod conv;
pub mod dplr;
pub mod gelu;
