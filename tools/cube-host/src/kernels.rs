//! Kernel sources copied from statespace by run_fused_conv.sh.
pub mod fused;
