//! S4 and S4D layers against state-spaces/s4's standalone `FFTConv`
//! (golden cases `s4_fftconv_*`): output, input gradient, every parameter
//! gradient, the recurrent output and chunked streaming, at ≤ 1e-4
//! norm-relative in f32.

mod common;

use burn::backend::{Autodiff, Flex};
use common::{assert_checks, golden_cases, golden_dir};
use statespace::golden::s4::{check_forward_and_gradients, check_recurrent, read_manifest};

#[test]
fn s4_layers_match_reference_output_and_gradients() {
    let manifest = read_manifest(&golden_dir());
    for (case, file) in golden_cases("s4_fftconv_") {
        let checks = check_forward_and_gradients::<Autodiff<Flex>>(
            &case,
            &file,
            manifest.as_ref(),
            &Default::default(),
        )
        .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert!(
            checks.iter().any(|c| c.what.contains("grad.")),
            "{case}: no parameter gradients"
        );
        assert_checks(&checks);
    }
}

#[test]
fn s4_step_mode_and_chunked_streaming_equal_reference() {
    let manifest = read_manifest(&golden_dir());
    for (case, file) in golden_cases("s4_fftconv_") {
        let checks = check_recurrent::<Flex>(&case, &file, manifest.as_ref(), &Default::default())
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_checks(&checks);
    }
}
