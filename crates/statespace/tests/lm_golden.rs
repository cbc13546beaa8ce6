//! Mamba and Mamba-2 language models against transformers (golden cases
//! `hf_mamba*_io`): logits at ≤ 1e-4 and greedy generation token for token,
//! from both the Hugging Face and the state-spaces/mamba checkpoint layouts.

mod common;

use burn::backend::Flex;
use common::{assert_checks, golden_cases, golden_dir};
use statespace::golden::lm::check_case;

#[test]
fn language_models_match_transformers_in_both_layouts() {
    let dir = golden_dir();
    for (case, file) in golden_cases("hf_mamba") {
        let checks = check_case::<Flex>(&dir, &case, &file, &Default::default())
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_checks(&checks);
    }
}
