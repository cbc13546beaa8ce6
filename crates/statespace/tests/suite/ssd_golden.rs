//! SSD against mamba_ssm's `ssd_minimal_discrete` (golden cases `ssd_*`) in
//! f64 at ≤ 1e-9, by the backend op (the CPU recurrence) and by the chunked
//! composite at several chunk sizes: the result does not depend on them.

use crate::common::{assert_checks, golden_cases};
use burn::backend::{Autodiff, Flex};
use burn::tensor::DType;
use statespace::golden::ssd::{TOLERANCE_F64, check_case};

#[test]
fn ssd_matches_reference_for_any_chunk_size() {
    for (case, file) in golden_cases("ssd_") {
        let len = file.shape("X").unwrap()[1];
        for (chunk, chunked) in [16, 1, 7, len, len + 5]
            .into_iter()
            .flat_map(|chunk| [(chunk, true), (chunk, false)])
        {
            let checks = check_case::<Autodiff<Flex>>(
                &case,
                &file,
                chunk,
                chunked,
                DType::F64,
                TOLERANCE_F64,
                &Default::default(),
            )
            .unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_checks(&checks);
        }
    }
}
