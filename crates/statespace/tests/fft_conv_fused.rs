//! The fused FFT convolution (CPU kernel and its hand-written backward)
//! equals the composite spectral form and its autodiff gradients, for odd,
//! even and short lengths and several channel counts.

use burn::backend::{Autodiff, Flex};
use burn::tensor::DType;
use statespace::golden::rel_err;
use statespace::io::HostTensor;
use statespace::ops::causal_conv;
use statespace::ops::fft_conv::causal_conv_composite;

mod common;

use common::Draws;

type AD = Autodiff<Flex>;

#[test]
fn fused_convolution_and_gradients_equal_composite() {
    let mut draws = Draws::new(17);
    for (batch, c, h, len, k_len) in [
        (2, 1, 3, 37, 37),
        (1, 3, 2, 64, 20),
        (3, 2, 1, 1, 1),
        (2, 2, 4, 100, 100),
    ] {
        let mut rand = |shape: [usize; 3]| draws.normal::<AD, 3>(shape, DType::F64);
        let u = rand([batch, len, h]).require_grad();
        let k = rand([c, h, k_len]).require_grad();
        let d = rand([1, c, h]).reshape([c, h]).require_grad();
        let gy = rand([batch, len, c * h]);
        let fused = causal_conv(u.clone(), k.clone(), d.clone()).unwrap();
        let reference = causal_conv_composite(u.clone(), k.clone(), d.clone());
        let err = rel_err(
            &HostTensor::from_tensor(&fused).data,
            &HostTensor::from_tensor(&reference).data,
        );
        assert!(
            err < 1e-12,
            "forward {:?}: {err:.2e}",
            (batch, c, h, len, k_len)
        );
        let g1 = (fused * gy.clone()).sum().backward();
        let g2 = (reference * gy).sum().backward();
        for (name, a, b) in [
            ("u", u.grad(&g1).unwrap(), u.grad(&g2).unwrap()),
            ("k", k.grad(&g1).unwrap(), k.grad(&g2).unwrap()),
        ] {
            let err = rel_err(
                &HostTensor::from_tensor(&a).data,
                &HostTensor::from_tensor(&b).data,
            );
            assert!(
                err < 1e-12,
                "grad {name} {:?}: {err:.2e}",
                (batch, c, h, len, k_len)
            );
        }
        let (da, db) = (d.grad(&g1).unwrap(), d.grad(&g2).unwrap());
        let err = rel_err(
            &HostTensor::from_tensor(&da).data,
            &HostTensor::from_tensor(&db).data,
        );
        assert!(
            err < 1e-12,
            "grad d {:?}: {err:.2e}",
            (batch, c, h, len, k_len)
        );
    }
}
