//! The NPLR/DPLR decomposition reproduces the HiPPO matrices it came from,
//! up to N = 1024, keeping one eigenvalue of each conjugate pair.

use statespace::hippo::{Measure, nplr, transition};

/// max |x|, NaN if any x is NaN (so a NaN reconstruction fails).
fn max_abs(m: impl Iterator<Item = f64>) -> f64 {
    m.fold(0.0, |acc, x| {
        if acc.is_nan() || x.is_nan() {
            f64::NAN
        } else {
            acc.max(x.abs())
        }
    })
}

#[test]
fn nplr_reconstructs_hippo_matrices_up_to_n_1024() {
    let measures = [
        (Measure::LegS, 1),
        (Measure::LegT, 2),
        (Measure::LagT { beta: 1.0 }, 1),
        (Measure::FouT, 1),
    ];
    for n in [8, 64, 256, 1024] {
        for (measure, rank) in measures {
            let hippo = transition(measure, n).unwrap();
            let dec = nplr(measure, n, rank, None).unwrap();
            assert_eq!(dec.lambda.len(), n / 2);
            assert!(
                dec.lambda.iter().all(|l| l.im <= 1e-9),
                "kept eigenvalues have Im ≤ 0"
            );

            let a = dec.reconstruct_a();
            let scale = max_abs(
                (0..n)
                    .flat_map(|i| (0..n).map(move |k| (i, k)))
                    .map(|ik| hippo.a[ik]),
            );
            let err_a = max_abs(
                (0..n)
                    .flat_map(|i| (0..n).map(move |k| (i, k)))
                    .map(|ik| a[ik] - hippo.a[ik]),
            ) / scale;

            // B = V_full V_full* B = 2 Re(V (V* B)) for the unclipped B.
            let b_scale = max_abs((0..n).map(|i| hippo.b[i]));
            let err_b = max_abs((0..n).map(|i| {
                let rebuilt: f64 = 2.0
                    * (0..n / 2)
                        .map(|j| dec.v[(i, j)] * dec.b[j])
                        .sum::<faer::c64>()
                        .re;
                rebuilt - hippo.b[i]
            })) / b_scale;
            eprintln!(
                "NPLR {measure:>4} N={n:>4}: relative reconstruction error A {err_a:.2e}, B {err_b:.2e}"
            );
            assert!(
                err_a < 1e-10,
                "{measure} N={n}: A reconstruction error {err_a:.2e}"
            );
            assert!(
                err_b < 1e-10,
                "{measure} N={n}: B reconstruction error {err_b:.2e}"
            );
        }
    }
}

#[test]
fn max_abs_propagates_nan() {
    assert!(max_abs([1.0, f64::NAN, 2.0].into_iter()).is_nan());
    assert_eq!(max_abs([1.0, -3.0].into_iter()), 3.0);
}

#[test]
fn nplr_rejects_odd_state_size() {
    let err = nplr(Measure::LegS, 7, 1, Some(2.0))
        .unwrap_err()
        .to_string();
    assert!(err.contains("d_state") && err.contains("7"), "{err}");
}
