//! Mamba-3 against mamba_ssm's `Mamba3` module, SISO and MIMO (golden cases `mamba3_*`):
//! output, every gradient, decode outputs and states in f64 at ≤ 1e-9, and in
//! f32 at ≤ 1e-4.

mod common;

use burn::backend::{Autodiff, Flex};
use burn::tensor::DType;
use common::{assert_checks, golden_cases, golden_set};
use statespace::golden::layer::tolerance_for;
use statespace::golden::mamba3::check_case;

#[test]
fn mamba3_matches_reference_in_f64_and_f32() {
    let set = golden_set();
    for (case, file) in golden_cases("mamba3_") {
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
