//! The CPU (Flex) backend: burn's row select forward and the reference select-add
//! backward ([`super::reference`]), the trait's defaults.

use burn_flex::Flex;

use super::EmbeddingOps;

impl EmbeddingOps for Flex {}
