//! Whole-layer golden cases: Hydra against goombalab/hydra's `Hydra`
//! (`hydra_*`) and Mamba-3 against mamba_ssm's `Mamba3`, SISO and MIMO
//! (`mamba3_*`: also the decode outputs and states), and the long
//! convolution against safari's `LongConv` (`longconv_*`: also the kernel
//! it convolves): every output and gradient in f64 at ≤ 1e-9, and in f32
//! at ≤ 1e-4.

mod common;

use burn::backend::{Autodiff, Flex};
use burn::tensor::DType;
use common::{assert_checks, golden_cases, golden_set};
use statespace::golden::layer::{LayerCheck, tolerance_for};
use statespace::golden::{hydra, long_conv, mamba3};

type B = Autodiff<Flex>;

fn check_all(prefix: &str, check: LayerCheck<B>) {
    let set = golden_set();
    for (case, file) in golden_cases(prefix) {
        for dtype in [DType::F64, DType::F32] {
            let checks = check(
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
fn hydra_matches_reference_in_f64_and_f32() {
    check_all("hydra_", hydra::check_case::<B>);
}

#[test]
fn mamba3_matches_reference_in_f64_and_f32() {
    check_all("mamba3_", mamba3::check_case::<B>);
}

#[test]
fn long_conv_matches_reference_in_f64_and_f32() {
    check_all("longconv_", long_conv::check_case::<B>);
}
