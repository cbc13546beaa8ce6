//! The selective scan against mamba_ssm's `selective_scan_ref` (golden cases
//! `selective_scan_*`): output, last state and every input gradient.

mod common;

use burn::backend::{Autodiff, Flex};
use common::{assert_checks, golden_cases, golden_dir};
use statespace::golden::s4::read_manifest;
use statespace::golden::selective_scan::check_case;

#[test]
fn selective_scan_matches_reference_forward_and_gradients() {
    let manifest = read_manifest(&golden_dir());
    for (case, file) in golden_cases("selective_scan_") {
        let checks =
            check_case::<Autodiff<Flex>>(&case, &file, manifest.as_ref(), &Default::default())
                .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_checks(&checks);
    }
}
