//! Online function approximation: the HiPPO state reconstructs the signal,
//! and more basis functions give a better reconstruction.

use statespace::hippo::Measure;
use statespace::hippo::online::{project, relative_error};

fn signal(len: usize) -> Vec<f64> {
    (0..len)
        .map(|k| {
            let t = (k as f64 + 1.0) / len as f64;
            (6.0 * t).sin() + 0.5 * (17.0 * t).cos() * t + 0.2 * (31.0 * t + 0.5).sin()
        })
        .collect()
}

#[test]
fn reconstruction_error_falls_as_state_size_grows() {
    let f = signal(4000);
    for measure in ["legs", "legt", "lagt", "fout"] {
        let measure: Measure = measure.parse().unwrap();
        let errors: Vec<f64> = [4, 8, 16, 32]
            .iter()
            .map(|&n| {
                let p = project(measure, n, &f, 1.0).unwrap();
                relative_error(&f, p.window, &p.reconstruct(f.len()))
            })
            .collect();
        eprintln!("{measure}: relative L2 error at N = 4, 8, 16, 32: {errors:.3?}");
        for pair in errors.windows(2) {
            assert!(
                pair[1] <= pair[0] * 1.01,
                "{measure}: error grew with N: {errors:?}"
            );
        }
        assert!(
            errors[3] < 0.25 * errors[0],
            "{measure}: error barely fell: {errors:?}"
        );
        assert!(
            errors[3] < 0.05,
            "{measure}: N = 32 reconstruction too poor: {errors:?}"
        );
    }
}

#[test]
fn projection_rejects_bad_input() {
    assert!(
        project(Measure::LegS, 8, &[], 1.0)
            .unwrap_err()
            .to_string()
            .contains("empty")
    );
    assert!(
        project(Measure::LegS, 8, &[1.0, f64::NAN], 1.0)
            .unwrap_err()
            .to_string()
            .contains("input")
    );
    assert!(
        project(Measure::LegT, 8, &[1.0, 2.0], 0.0)
            .unwrap_err()
            .to_string()
            .contains("window")
    );
    assert!(
        project(Measure::FouT, 7, &[1.0, 2.0], 1.0)
            .unwrap_err()
            .to_string()
            .contains("even")
    );
}
