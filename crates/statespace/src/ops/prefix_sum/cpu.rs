//! The CPU (Flex) backend: the reference composite ([`super::reference`]),
//! the trait's default (Flex's `cumsum` is one pass).

use burn_flex::Flex;

use super::PrefixSumOps;

impl PrefixSumOps for Flex {}
