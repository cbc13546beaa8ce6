//! Hydra against goombalab/hydra's `Hydra` module (golden cases `hydra_*`):
//! output and every gradient in f64 at ≤ 1e-9, and in f32 at ≤ 1e-4.

mod common;

use burn::backend::{Autodiff, Flex};
use burn::tensor::DType;
use common::{assert_checks, golden_cases, golden_set};
use statespace::golden::hydra::check_case;
use statespace::golden::layer::tolerance_for;

#[test]
fn hydra_matches_reference_in_f64_and_f32() {
    let set = golden_set();
    for (case, file) in golden_cases("hydra_") {
        for dtype in [DType::F64, DType::F32] {
            let checks = check_case::<Autodiff<Flex>>(
                &case,
                &file,
                set.manifest(),
                dtype,
                tolerance_for(dtype),
                &Default::default(),
            )
            .unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_checks(&checks);
        }
    }
}
