//! The fused Cauchy product and its hand-written backward equal the
//! composite tensor form and its autodiff gradients.

use num_complex::Complex64;
use statespace::complex::ComplexTensor;
use statespace::golden::rel_err;
use statespace::io::HostTensor;
use statespace::ops::cauchy;
use statespace::ops::cauchy::cauchy_composite;

use crate::common::{CpuAutodiff as AD, Draws, grad_values};

#[test]
fn fused_cauchy_and_gradients_equal_composite() {
    let mut draws = Draws::new(1);
    // (H, R, N, S): S4's nodes 2i·tan(πk/L) at ±, one row, several, one node.
    for (h, r, n, count) in [(3, 4, 5, 16), (2, 1, 7, 9), (1, 3, 2, 1)] {
        let nodes: Vec<Complex64> = (0..count)
            .map(|k| {
                let t = (std::f64::consts::PI * (k / 2) as f64 / (2 * count) as f64).tan();
                Complex64::new(0.0, if k % 2 == 0 { 2.0 * t } else { -2.0 * t })
            })
            .collect();
        let v = ComplexTensor::new(
            draws.leaf([h, r, n], -1.0, 1.0),
            draws.leaf([h, r, n], -1.0, 1.0),
        );
        let z = ComplexTensor::new(
            draws.leaf([h, n], -0.5, -0.01),
            draws.leaf([h, n], -5.0, 5.0),
        );
        let fused = cauchy(&v, &z, &nodes).unwrap();
        let reference = cauchy_composite(&v, &z, &nodes);
        let case = format!("{:?}", (h, r, n, count));
        for (ours, theirs) in [(&fused.re, &reference.re), (&fused.im, &reference.im)] {
            let err = rel_err(
                &HostTensor::from_tensor(ours).data,
                &HostTensor::from_tensor(theirs).data,
            );
            assert!(err < 1e-12, "forward {case}: {err:.2e}");
        }
        let g_re = draws.leaf([h, r, count], -1.0, 1.0).detach();
        let g_im = draws.leaf([h, r, count], -1.0, 1.0).detach();
        let loss = |y: &ComplexTensor<AD, 3>| {
            (y.re.clone() * g_re.clone()).sum() + (y.im.clone() * g_im.clone()).sum()
        };
        let g1 = loss(&fused).backward();
        let g2 = loss(&reference).backward();
        for (name, ours, theirs) in [
            ("v_re", grad_values(&v.re, &g1), grad_values(&v.re, &g2)),
            ("v_im", grad_values(&v.im, &g1), grad_values(&v.im, &g2)),
            ("z_re", grad_values(&z.re, &g1), grad_values(&z.re, &g2)),
            ("z_im", grad_values(&z.im, &g1), grad_values(&z.im, &g2)),
        ] {
            let err = rel_err(&ours, &theirs);
            assert!(err < 1e-12, "grad {name} {case}: {err:.2e}");
        }
    }
}
