//! The CPU (Flex) backend: burn's matmul, add and row sum, the trait's defaults.

use burn_flex::Flex;

use super::MatmulOps;

impl MatmulOps for Flex {}
