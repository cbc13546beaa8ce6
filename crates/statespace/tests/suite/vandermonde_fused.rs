//! The fused Vandermonde product and its hand-written backward equal the
//! composite tensor form and its autodiff gradients.

use burn::backend::{Autodiff, Flex};
use burn::tensor::{DType, Distribution, Tensor};
use statespace::complex::ComplexTensor;
use statespace::golden::rel_err;
use statespace::io::HostTensor;
use statespace::ops::vandermonde;
use statespace::ops::vandermonde::vandermonde_composite;

type AD = Autodiff<Flex>;

#[test]
fn fused_vandermonde_and_gradients_equal_composite() {
    let device = Default::default();
    for (c, h, n, len) in [(1, 3, 4, 37), (2, 2, 5, 1), (3, 1, 2, 64)] {
        let r2 = |lo, hi| {
            Tensor::<AD, 2>::random([h, n], Distribution::Uniform(lo, hi), &device)
                .cast(DType::F64)
                .require_grad()
        };
        let r3 = || {
            Tensor::<AD, 3>::random([c, h, n], Distribution::Normal(0.0, 1.0), &device)
                .cast(DType::F64)
                .require_grad()
        };
        let w = ComplexTensor::new(r2(-0.3, -0.01), r2(-3.0, 3.0));
        let coef = ComplexTensor::new(r3(), r3());
        let g = Tensor::<AD, 3>::random([c, h, len], Distribution::Normal(0.0, 1.0), &device)
            .cast(DType::F64);
        let fused = vandermonde(&w, &coef, len).unwrap();
        let reference = vandermonde_composite(&w, &coef, len);
        let err = rel_err(
            &HostTensor::from_tensor(&fused).data,
            &HostTensor::from_tensor(&reference).data,
        );
        assert!(err < 1e-12, "forward {:?}: {err:.2e}", (c, h, n, len));
        let g1 = (fused * g.clone()).sum().backward();
        let g2 = (reference * g).sum().backward();
        let check2 = |name: &str, t: &Tensor<AD, 2>| {
            let err = rel_err(
                &HostTensor::from_tensor(&t.grad(&g1).unwrap()).data,
                &HostTensor::from_tensor(&t.grad(&g2).unwrap()).data,
            );
            assert!(err < 1e-12, "grad {name}: {err:.2e}");
        };
        let check3 = |name: &str, t: &Tensor<AD, 3>| {
            let err = rel_err(
                &HostTensor::from_tensor(&t.grad(&g1).unwrap()).data,
                &HostTensor::from_tensor(&t.grad(&g2).unwrap()).data,
            );
            assert!(err < 1e-12, "grad {name}: {err:.2e}");
        };
        check2("w_re", &w.re);
        check2("w_im", &w.im);
        check3("coef_re", &coef.re);
        check3("coef_im", &coef.im);
    }
}
