//! S4 and S4D layers against state-spaces/s4's standalone `FFTConv`:
//! output, input gradient, every parameter gradient, the recurrent output
//! and chunked streaming. Golden cases `s4_fftconv_*` (f32 at ≤ 1e-4, or f64
//! at ≤ 1e-9 where a file is float64) and `s4_f64_fftconv_*` (float64, FouT
//! among them), plus the repository's own cases of both prefixes
//! (`tests/reference`), which also hold the official code's float32 run:
//! there our f32 gradients must be at least as close to the f64 truth.

use crate::common::{assert_checks, cases_in, golden_set, reference_set};
use burn::backend::{Autodiff, Flex};
use statespace::golden::GoldenSet;
use statespace::golden::s4::{
    check_f32_against_official_f32, check_f64_against_truth, check_forward_and_gradients,
    check_recurrent,
};

const PREFIXES: [&str; 2] = ["s4_fftconv_", "s4_f64_fftconv_"];

/// Every S4 case of the golden and reference sets, with its set.
fn all_cases() -> Vec<(GoldenSet, String, statespace::io::SafetensorsFile)> {
    let mut all = Vec::new();
    for set in [golden_set(), reference_set()] {
        for prefix in PREFIXES {
            for (case, file) in cases_in(&set, prefix) {
                all.push((set.clone(), case, file));
            }
        }
    }
    let golden = all
        .iter()
        .filter(|(s, c, _)| s.dir() == golden_set().dir() && c.starts_with("s4_fftconv_"));
    assert!(golden.count() > 0, "no golden case s4_fftconv_*");
    all
}

#[test]
fn s4_layers_match_reference_output_and_gradients() {
    for (set, case, file) in all_cases() {
        let checks = check_forward_and_gradients::<Autodiff<Flex>>(
            &case,
            &file,
            set.manifest(),
            &Default::default(),
        )
        .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert!(
            checks.iter().filter(|c| c.what.contains("grad.")).count() >= 6,
            "{case}: fewer parameter gradients than an S4 layer has"
        );
        assert_checks(&checks);
    }
}

#[test]
fn s4_step_mode_and_chunked_streaming_equal_reference() {
    for (set, case, file) in all_cases() {
        let checks = check_recurrent::<Flex>(&case, &file, set.manifest(), &Default::default())
            .unwrap_or_else(|e| panic!("{case}: {e}"));
        assert_checks(&checks);
    }
}

/// The checks of `run` over every case it applies to (it returns `None`
/// on the others), and how many cases those were.
fn checks_where_present(
    run: impl Fn(
        &str,
        &statespace::io::SafetensorsFile,
        Option<&serde_json::Value>,
    ) -> statespace::Result<Option<Vec<statespace::golden::Check>>>,
) -> (Vec<statespace::golden::Check>, usize) {
    let (mut all, mut compared) = (Vec::new(), 0);
    for (set, case, file) in all_cases() {
        if let Some(checks) =
            run(&case, &file, set.manifest()).unwrap_or_else(|e| panic!("{case}: {e}"))
        {
            all.extend(checks);
            compared += 1;
        }
    }
    (all, compared)
}

#[test]
fn s4_f32_gradients_are_as_close_to_f64_truth_as_the_official_f32() {
    let (all, compared) = checks_where_present(|case, file, manifest| {
        check_f32_against_official_f32::<Autodiff<Flex>>(case, file, manifest, &Default::default())
    });
    assert_checks(&all);
    assert!(
        compared > 0,
        "no case holds the official float32 run (f32.*)"
    );
}

#[test]
fn s4_f64_gradients_match_the_high_precision_truth() {
    let (all, compared) = checks_where_present(|case, file, manifest| {
        check_f64_against_truth::<Autodiff<Flex>>(case, file, manifest, &Default::default())
    });
    assert_checks(&all);
    assert!(compared > 0, "no case holds 40-digit values (truth.*)");
}
