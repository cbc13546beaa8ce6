//! Whole-layer golden cases: Hydra against goombalab/hydra's `Hydra`
//! (`hydra_*`) and Mamba-3 against mamba_ssm's `Mamba3`, SISO and MIMO
//! (`mamba3_*`: also the decode outputs and states), and the long
//! convolution against safari's `LongConv` (`longconv_*`: also the kernel
//! it convolves), Hyena against safari's `HyenaOperator` (`hyena_*`: also
//! the implicit filter): every output and gradient in f64 at ≤ 1e-9, and in f32
//! at ≤ 1e-4.

mod common;

use burn::backend::{Autodiff, Flex};
use burn::tensor::DType;
use common::{assert_checks, cases_in, golden_cases, golden_set, reference_set};
use statespace::golden::layer::{LayerCheck, tolerance_for};
use statespace::golden::{h3, hydra, hyena, long_conv, mamba3, s5};

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

#[test]
fn hyena_matches_reference_in_f64_and_f32() {
    check_all("hyena_", hyena::check_case::<B>);
}

/// The repository's own Hyena cases (`scripts/reference/hyena_cases.py`):
/// order 3 at L < l_max, and outer mixing with post-order scales, a
/// normalised filter, five embedding bands' worth of emb_dim and GELU.
#[test]
fn hyena_matches_own_reference_cases() {
    let set = reference_set();
    let cases = cases_in(&set, "hyena_");
    assert_eq!(cases.len(), 2, "hyena_order3 and hyena_mixing");
    for (case, file) in cases {
        let checks = hyena::check_case::<B>(
            &case,
            &file,
            set.manifest(),
            DType::F64,
            tolerance_for(DType::F64),
            &Default::default(),
        )
        .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_checks(&checks);
    }
}

/// H3 against safari's `H3` (float32 reference: outputs, kernels and
/// states ≤ 1e-5, gradients ≤ 1e-4), run in f64 and f32.
#[test]
fn h3_matches_reference_forward_gradients_and_steps() {
    check_all("h3_", h3::check_case::<B>);
}

#[test]
fn s5_ssm_matches_reference_in_f64_and_f32() {
    check_all("s5_ssm_", s5::check_ssm_case::<B>);
}

#[test]
fn s5_layer_matches_reference_in_f64_and_f32() {
    check_all("s5_layer_", s5::check_layer_case::<B>);
}
