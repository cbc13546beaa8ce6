//! The CPU (Flex) backend: the reference composites ([`super::reference`]), the
//! trait's defaults.

use burn_flex::Flex;

use super::AdamWOps;

impl AdamWOps for Flex {}
