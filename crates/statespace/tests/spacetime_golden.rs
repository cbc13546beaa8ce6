//! SpaceTime against HazyResearch/spacetime (`spacetime_*`): the Krylov
//! and companion-FFT kernels, every SSM class open and closed loop, and
//! the whole network — outputs, stored activations and every gradient, in
//! f64 at ≤ 1e-9 and in f32 at ≤ 1e-4.

mod common;

use burn::backend::{Autodiff, Flex};
use burn::tensor::DType;
use common::{assert_checks, golden_cases, golden_set};
use statespace::golden::layer::tolerance_for;
use statespace::golden::spacetime;

type B = Autodiff<Flex>;

fn check_prefix(prefix: &str) {
    let set = golden_set();
    for (case, file) in golden_cases(prefix) {
        for dtype in [DType::F64, DType::F32] {
            let checks = spacetime::check_case::<B>(
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

#[test]
fn krylov_and_companion_fft_kernels_match_reference() {
    check_prefix("spacetime_krylov");
}

#[test]
fn ssm_classes_match_reference() {
    check_prefix("spacetime_ssm_");
}

#[test]
fn networks_match_reference() {
    check_prefix("spacetime_net_");
}
