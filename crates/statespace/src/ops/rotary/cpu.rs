//! The CPU (Flex) backend: the reference composites ([`super::reference`]),
//! the trait's defaults.

use burn_flex::Flex;

use super::RotaryOps;

impl RotaryOps for Flex {}
