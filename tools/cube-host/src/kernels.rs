//! Kernel sources copied from statespace by the run_*.sh scripts.
pub mod fused;
pub mod gelu;
