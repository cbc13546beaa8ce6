//! The fused Cauchy product and its hand-written backward equal the
//! composite tensor form and its autodiff gradients.

use burn::backend::{Autodiff, Flex};
use burn::tensor::{DType, Distribution, Tensor};
use num_complex::Complex64;
use statespace::complex::ComplexTensor;
use statespace::golden::rel_err;
use statespace::io::HostTensor;
use statespace::ops::cauchy;
use statespace::ops::cauchy::cauchy_composite;

type AD = Autodiff<Flex>;

fn random<const D: usize>(shape: [usize; D], lo: f64, hi: f64) -> Tensor<AD, D> {
    Tensor::<AD, D>::random(shape, Distribution::Uniform(lo, hi), &Default::default())
        .cast(DType::F64)
        .require_grad()
}

fn grad<const D: usize>(
    t: &Tensor<AD, D>,
    grads: &<AD as burn::tensor::backend::AutodiffBackend>::Gradients,
) -> Vec<f64> {
    HostTensor::from_tensor(&t.grad(grads).expect("tracked")).data
}

#[test]
fn fused_cauchy_and_gradients_equal_composite() {
    // (H, R, N, S): S4's nodes 2i·tan(πk/L) at ±, one row, several, one node.
    for (h, r, n, count) in [(3, 4, 5, 16), (2, 1, 7, 9), (1, 3, 2, 1)] {
        let nodes: Vec<Complex64> = (0..count)
            .map(|k| {
                let t = (std::f64::consts::PI * (k / 2) as f64 / (2 * count) as f64).tan();
                Complex64::new(0.0, if k % 2 == 0 { 2.0 * t } else { -2.0 * t })
            })
            .collect();
        let v = ComplexTensor::new(random([h, r, n], -1.0, 1.0), random([h, r, n], -1.0, 1.0));
        let z = ComplexTensor::new(random([h, n], -0.5, -0.01), random([h, n], -5.0, 5.0));
        let fused = cauchy(&v, &z, &nodes);
        let reference = cauchy_composite(&v, &z, &nodes);
        let case = format!("{:?}", (h, r, n, count));
        for (ours, theirs) in [(&fused.re, &reference.re), (&fused.im, &reference.im)] {
            let err = rel_err(
                &HostTensor::from_tensor(ours).data,
                &HostTensor::from_tensor(theirs).data,
            );
            assert!(err < 1e-12, "forward {case}: {err:.2e}");
        }
        let g_re = random([h, r, count], -1.0, 1.0).detach();
        let g_im = random([h, r, count], -1.0, 1.0).detach();
        let loss = |y: &ComplexTensor<AD, 3>| {
            (y.re.clone() * g_re.clone()).sum() + (y.im.clone() * g_im.clone()).sum()
        };
        let g1 = loss(&fused).backward();
        let g2 = loss(&reference).backward();
        for (name, ours, theirs) in [
            ("v_re", grad(&v.re, &g1), grad(&v.re, &g2)),
            ("v_im", grad(&v.im, &g1), grad(&v.im, &g2)),
            ("z_re", grad(&z.re, &g1), grad(&z.re, &g2)),
            ("z_im", grad(&z.im, &g1), grad(&z.im, &g2)),
        ] {
            let err = rel_err(&ours, &theirs);
            assert!(err < 1e-12, "grad {name} {case}: {err:.2e}");
        }
    }
}
