//! SSD against mamba_ssm's `ssd_minimal_discrete` (golden cases `ssd_*`) in
//! f64 at ≤ 1e-9, for several chunk sizes: the result does not depend on it.

mod common;

use burn::backend::{Autodiff, Flex};
use burn::tensor::DType;
use common::{assert_checks, golden_cases};
use statespace::golden::ssd::{TOLERANCE_F64, check_case};

#[test]
fn ssd_matches_reference_for_any_chunk_size() {
    for (case, file) in golden_cases("ssd_") {
        let len = file.shape("X").unwrap()[1];
        for chunk in [16, 1, 7, len, len + 5] {
            let checks = check_case::<Autodiff<Flex>>(
                &case,
                &file,
                chunk,
                DType::F64,
                TOLERANCE_F64,
                &Default::default(),
            )
            .unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_checks(&checks);
        }
    }
}
