//! The selective scan against mamba_ssm's `selective_scan_ref` (golden cases
//! `selective_scan_*`): output, last state and every input gradient.

use crate::common::{assert_checks, golden_set};
use burn::backend::{Autodiff, Flex};
use statespace::golden::selective_scan::check_case;

#[test]
fn selective_scan_matches_reference_forward_and_gradients() {
    let set = golden_set();
    for (case, file) in set
        .cases("selective_scan_")
        .unwrap_or_else(|e| panic!("{e}"))
    {
        let checks =
            check_case::<Autodiff<Flex>>(&case, &file, set.manifest(), &Default::default())
                .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_checks(&checks);
    }
}
