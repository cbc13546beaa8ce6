//! Mamba and Mamba-2 language models against transformers (golden cases
//! `hf_mamba*_io`): logits at ≤ 1e-4 and greedy generation token for token,
//! from both the Hugging Face and the state-spaces/mamba checkpoint layouts.
//! The repository's own cases (`tests/reference`) add grouped Mamba-2 models
//! (n_groups 2 and 4, transformers 5.24, whose gated RMSNorm normalises each
//! group as mamba_ssm does).

use crate::common::{assert_checks, cases_in, golden_set, reference_set};
use burn::backend::Flex;
use statespace::golden::lm::check_case;

#[test]
fn language_models_match_transformers_in_both_layouts() {
    let golden = golden_set();
    let cases = golden.cases("hf_mamba").unwrap_or_else(|e| panic!("{e}"));
    for (case, file) in cases {
        let checks = check_case::<Flex>(golden.dir(), &case, &file, &Default::default())
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_checks(&checks);
    }
}

#[test]
fn grouped_mamba2_models_match_transformers() {
    let set = reference_set();
    let cases = cases_in(&set, "hf_mamba2_g");
    assert!(
        cases.len() >= 2,
        "the grouped Mamba-2 reference cases are missing"
    );
    for (case, file) in cases {
        let checks = check_case::<Flex>(set.dir(), &case, &file, &Default::default())
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_checks(&checks);
    }
}
