//! HiPPO transition matrices against state-spaces/s4 `transition()`
//! (golden case `hippo`), and LagT against its defining projection.

use crate::common::{assert_close, golden_cases};
use faer::Mat;
use statespace::hippo::{Measure, transition};

fn mat_to_vec(m: &Mat<f64>) -> Vec<f64> {
    (0..m.nrows())
        .flat_map(|i| (0..m.ncols()).map(move |j| (i, j)))
        .map(|(i, j)| m[(i, j)])
        .collect()
}

#[test]
fn hippo_matrices_equal_reference_transition() {
    let mut checked = 0;
    for (case, file) in golden_cases("hippo") {
        for name in file.names() {
            // Keys are `<measure>_N<n>_A` with a matching `_B`.
            let Some(stem) = name.strip_suffix("_A") else {
                continue;
            };
            let (measure, _) = stem.split_once("_N").expect("key of form <measure>_N<n>_A");
            let measure: Measure = measure.parse().unwrap();
            let a_ref = file.f64(&name).unwrap();
            let b_ref = file.f64(&format!("{stem}_B")).unwrap();
            let n = a_ref.shape[0];
            let t = transition(measure, n).unwrap();
            assert_close(
                &format!("{case}/{stem} A"),
                &mat_to_vec(&t.a),
                &a_ref.data,
                1e-12,
            );
            let b: Vec<f64> = (0..n).map(|i| t.b[i]).collect();
            assert_close(&format!("{case}/{stem} B"), &b, &b_ref.data, 1e-12);
            checked += 1;
        }
    }
    assert!(checked > 0, "no HiPPO matrices found in the golden files");
}

/// LagT's state is the projection c_n(t) = ∫₀ᵗ u(s) L_n(t−s) e^{−(t−s)/2} ds
/// onto Laguerre functions (HiPPO paper, translated Laguerre). Integrate the
/// ODE x' = A x + B u exactly for a piecewise-constant input and compare with
/// that integral computed by quadrature.
#[test]
fn lagt_state_is_the_laguerre_projection() {
    let n = 6;
    let t = transition(Measure::LagT { beta: 1.0 }, n).unwrap();
    let u = |s: f64| (1.3 * s).sin() + 0.5;
    let t_end = 3.0;

    // RK4 on the ODE with a fine step: error far below the 1e-6 tolerance.
    let steps = 30_000;
    let h = t_end / steps as f64;
    let mut x = vec![0.0; n];
    let deriv = |x: &[f64], s: f64| -> Vec<f64> {
        (0..n)
            .map(|i| (0..n).map(|k| t.a[(i, k)] * x[k]).sum::<f64>() + t.b[i] * u(s))
            .collect()
    };
    for step in 0..steps {
        let s = step as f64 * h;
        let k1 = deriv(&x, s);
        let x2: Vec<f64> = x.iter().zip(&k1).map(|(a, k)| a + 0.5 * h * k).collect();
        let k2 = deriv(&x2, s + 0.5 * h);
        let x3: Vec<f64> = x.iter().zip(&k2).map(|(a, k)| a + 0.5 * h * k).collect();
        let k3 = deriv(&x3, s + 0.5 * h);
        let x4: Vec<f64> = x.iter().zip(&k3).map(|(a, k)| a + h * k).collect();
        let k4 = deriv(&x4, s + h);
        for i in 0..n {
            x[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i]);
        }
    }

    // Laguerre polynomials by their three-term recurrence.
    let laguerre = |order: usize, y: f64| {
        let (mut l0, mut l1) = (1.0, 1.0 - y);
        if order == 0 {
            return l0;
        }
        for k in 1..order {
            let l2 =
                ((2 * k + 1) as f64 - y) * l1 / (k + 1) as f64 - k as f64 * l0 / (k + 1) as f64;
            l0 = l1;
            l1 = l2;
        }
        l1
    };
    // Composite Simpson quadrature of the projection integral.
    let m = 20_000;
    let dq = t_end / m as f64;
    let projection: Vec<f64> = (0..n)
        .map(|order| {
            (0..=m)
                .map(|j| {
                    let s = j as f64 * dq;
                    let w = if j == 0 || j == m {
                        1.0
                    } else if j % 2 == 1 {
                        4.0
                    } else {
                        2.0
                    };
                    w * u(s) * laguerre(order, t_end - s) * (-(t_end - s) / 2.0).exp()
                })
                .sum::<f64>()
                * dq
                / 3.0
        })
        .collect();
    assert_close("LagT state vs Laguerre projection", &x, &projection, 1e-6);
}

/// S5's `make_HiPPO` / `make_DPLR_HiPPO` (golden `s5_init_hippo`): the
/// LegS matrix, the eigenvalues exactly, and V, V*p and V*B up to each
/// eigenvector's phase (LAPACK and faer pick different ones).
#[test]
fn s5_normal_hippo_equals_reference() {
    use faer::c64;
    use statespace::hippo::normal_legs;
    let mut checked = 0;
    for (case, file) in golden_cases("s5_init_hippo") {
        for name in file.names() {
            let Some(n) = name
                .strip_prefix('N')
                .and_then(|rest| rest.strip_suffix(".Lambda_re"))
            else {
                continue;
            };
            let n: usize = n.parse().unwrap();
            let get = |key: &str| file.f64(&format!("N{n}.{key}")).unwrap().data;
            let complex = |data: Vec<f64>| -> Vec<c64> {
                data.chunks(2).map(|z| c64::new(z[0], z[1])).collect()
            };
            let ours = normal_legs(n).unwrap();
            let t = transition(Measure::LegS, n).unwrap();
            assert_close(
                &format!("{case} N{n} hippo_A"),
                &mat_to_vec(&t.a),
                &get("hippo_A"),
                1e-12,
            );
            let re: Vec<f64> = ours.lambda.iter().map(|z| z.re).collect();
            let im: Vec<f64> = ours.lambda.iter().map(|z| z.im).collect();
            assert_close(
                &format!("{case} N{n} Lambda_re"),
                &re,
                &get("Lambda_re"),
                1e-12,
            );
            assert_close(
                &format!("{case} N{n} Lambda_im"),
                &im,
                &get("Lambda_im"),
                1e-10,
            );
            // Each column's phase: the reference column is ours times e^{iφ_j}.
            let v_ref = complex(get("V"));
            let phases: Vec<c64> = (0..n)
                .map(|j| {
                    let dot: c64 = (0..n)
                        .map(|i| ours.v[(i, j)].conj() * v_ref[i * n + j])
                        .sum();
                    dot / dot.norm()
                })
                .collect();
            let flat = |v: Vec<c64>| -> Vec<f64> { v.iter().flat_map(|z| [z.re, z.im]).collect() };
            let v_ours: Vec<c64> = (0..n)
                .flat_map(|i| (0..n).map(move |j| (i, j)))
                .map(|(i, j)| ours.v[(i, j)] * phases[j])
                .collect();
            assert_close(
                &format!("{case} N{n} V"),
                &flat(v_ours),
                &flat(v_ref),
                1e-10,
            );
            for (key, values) in [("P", &ours.p), ("B", &ours.b)] {
                let rotated: Vec<c64> = values
                    .iter()
                    .zip(&phases)
                    .map(|(x, ph)| x * ph.conj())
                    .collect();
                assert_close(
                    &format!("{case} N{n} {key}"),
                    &flat(rotated),
                    &get(key),
                    1e-10,
                );
            }
            checked += 1;
        }
    }
    assert!(checked > 0, "no N<n>.Lambda_re tensors in s5_init_hippo");
}
