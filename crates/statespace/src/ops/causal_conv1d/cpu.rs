//! The CPU (Flex) backend: the reference composites in tensor ops
//! ([`super::reference`]), the trait's defaults: every tap a contiguous
//! slice times a broadcast row, the CPU backend's fast path.

use burn_flex::Flex;

use super::CausalConv1dOps;

impl CausalConv1dOps for Flex {}
