//! The fused Vandermonde product and its hand-written backward equal the
//! composite tensor form and its autodiff gradients.

use burn::backend::{Autodiff, Flex};
use burn::tensor::{DType, Tensor};
use statespace::complex::ComplexTensor;
use statespace::golden::rel_err;
use statespace::io::HostTensor;
use statespace::ops::vandermonde;
use statespace::ops::vandermonde::vandermonde_composite;

use crate::common::Draws;

type AD = Autodiff<Flex>;

#[test]
fn fused_vandermonde_and_gradients_equal_composite() {
    for (c, h, n, len) in [(1, 3, 4, 37), (2, 2, 5, 1), (3, 1, 2, 64)] {
        let mut draws = Draws::new((c * 1000 + h * 100 + n * 10 + len) as u64);
        let w = ComplexTensor::new(
            draws.uniform::<AD, 2>([h, n], -0.3, -0.01).require_grad(),
            draws.uniform::<AD, 2>([h, n], -3.0, 3.0).require_grad(),
        );
        let coef = ComplexTensor::new(
            draws.normal::<AD, 3>([c, h, n], DType::F64).require_grad(),
            draws.normal::<AD, 3>([c, h, n], DType::F64).require_grad(),
        );
        let g = draws.normal::<AD, 3>([c, h, len], DType::F64);
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
