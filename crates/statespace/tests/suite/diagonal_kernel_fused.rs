//! The fused diagonal kernel (discretisation + Vandermonde product, one op)
//! and its hand-written backward equal the composite tensor form and its
//! autodiff gradients, for ZOH and bilinear.

use burn::tensor::Tensor;
use statespace::complex::ComplexTensor;
use statespace::discretize::Discretization;
use statespace::golden::rel_err;
use statespace::io::HostTensor;
use statespace::ops::diagonal_kernel::{diagonal_kernel, diagonal_kernel_composite};

use crate::common::{CpuAutodiff as AD, Draws, grad_values};

/// `t`'s values as a new f32 leaf tensor.
fn f32_leaf<const D: usize>(t: &Tensor<AD, D>) -> Tensor<AD, D> {
    Tensor::from_data(t.to_data().convert::<f32>(), &Default::default()).require_grad()
}

#[test]
fn fused_diagonal_kernel_and_gradients_equal_composite() {
    let mut draws = Draws::new(1);
    for rule in [Discretization::Zoh, Discretization::Bilinear] {
        for (c, h, n, len) in [(1, 3, 4, 37), (2, 2, 5, 1), (3, 1, 2, 64)] {
            let dt = draws.leaf([h], 0.001, 0.1);
            // S4D-like: Re A < 0.
            let a = ComplexTensor::new(
                draws.leaf([h, n], -1.0, -0.1),
                draws.leaf([h, n], -10.0, 10.0),
            );
            let b =
                ComplexTensor::new(draws.leaf([h, n], -1.0, 1.0), draws.leaf([h, n], -1.0, 1.0));
            let cc = ComplexTensor::new(
                draws.leaf([c, h, n], -1.0, 1.0),
                draws.leaf([c, h, n], -1.0, 1.0),
            );
            let g = draws.leaf([c, h, len], -1.0, 1.0).detach();
            let fused = diagonal_kernel(&dt, &a, &b, &cc, rule, len).unwrap();
            let reference = diagonal_kernel_composite(&dt, &a, &b, &cc, rule, len).unwrap();
            let case = format!("{rule} {:?}", (c, h, n, len));
            let err = rel_err(
                &HostTensor::from_tensor(&fused).data,
                &HostTensor::from_tensor(&reference).data,
            );
            assert!(err < 1e-12, "forward {case}: {err:.2e}");
            let g1 = (fused * g.clone()).sum().backward();
            let g2 = (reference * g).sum().backward();
            let check = |name: &str, [ours, theirs]: [Vec<f64>; 2]| {
                let err = rel_err(&ours, &theirs);
                assert!(err < 1e-12, "grad {name} {case}: {err:.2e}");
            };
            let grads = [&g1, &g2];
            check("dt", grads.map(|g| grad_values(&dt, g)));
            check("a_re", grads.map(|g| grad_values(&a.re, g)));
            check("a_im", grads.map(|g| grad_values(&a.im, g)));
            check("b_re", grads.map(|g| grad_values(&b.re, g)));
            check("b_im", grads.map(|g| grad_values(&b.im, g)));
            check("c_re", grads.map(|g| grad_values(&cc.re, g)));
            check("c_im", grads.map(|g| grad_values(&cc.im, g)));
        }
    }
}

/// In f32 the fused op stays within 2·10⁻⁶ of the f64 composite where the
/// steps are small (|ΔA| down to 10⁻⁴), where the closed forms (eᶻ − 1)/A
/// and log((1 + z/2)/(1 − z/2)) lose digits to cancellation.
#[test]
fn fused_diagonal_kernel_is_accurate_in_f32_at_small_steps() {
    let mut draws = Draws::new(2);
    for rule in [Discretization::Zoh, Discretization::Bilinear] {
        let (c, h, n, len) = (2, 4, 6, 200);
        let dt = draws.leaf([h], 0.0005, 0.002);
        let a = ComplexTensor::new(
            draws.leaf([h, n], -0.6, -0.1),
            draws.leaf([h, n], -1.0, 1.0),
        );
        let b = ComplexTensor::new(draws.leaf([h, n], -1.0, 1.0), draws.leaf([h, n], -1.0, 1.0));
        let cc = ComplexTensor::new(
            draws.leaf([c, h, n], -1.0, 1.0),
            draws.leaf([c, h, n], -1.0, 1.0),
        );
        let g = draws.leaf([c, h, len], -1.0, 1.0).detach();
        let reference = diagonal_kernel_composite(&dt, &a, &b, &cc, rule, len).unwrap();
        let g64 = (reference.clone() * g.clone()).sum().backward();
        let (dt32, g32) = (f32_leaf(&dt), f32_leaf(&g));
        let (a32, b32) = (a.map(|t| f32_leaf(&t)), b.map(|t| f32_leaf(&t)));
        let c32 = cc.map(|t| f32_leaf(&t));
        let fused = diagonal_kernel(&dt32, &a32, &b32, &c32, rule, len).unwrap();
        let grads32 = (fused.clone() * g32).sum().backward();
        let check = |name: &str, ours: Vec<f64>, theirs: Vec<f64>| {
            let err = rel_err(&ours, &theirs);
            assert!(err < 2e-6, "{rule} {name}: {err:.2e}");
        };
        check(
            "out",
            HostTensor::from_tensor(&fused).data,
            HostTensor::from_tensor(&reference).data,
        );
        check("dt", grad_values(&dt32, &grads32), grad_values(&dt, &g64));
        check(
            "a_re",
            grad_values(&a32.re, &grads32),
            grad_values(&a.re, &g64),
        );
        check(
            "a_im",
            grad_values(&a32.im, &grads32),
            grad_values(&a.im, &g64),
        );
        check(
            "b_re",
            grad_values(&b32.re, &grads32),
            grad_values(&b.re, &g64),
        );
        check(
            "b_im",
            grad_values(&b32.im, &grads32),
            grad_values(&b.im, &g64),
        );
        check(
            "c_re",
            grad_values(&c32.re, &grads32),
            grad_values(&cc.re, &g64),
        );
        check(
            "c_im",
            grad_values(&c32.im, &grads32),
            grad_values(&cc.im, &g64),
        );
    }
}

/// Mismatched shapes are refused with an error naming the part at fault,
/// before any kernel indexes by them.
#[test]
fn mismatched_shapes_are_refused() {
    let mut draws = Draws::new(3);
    let dt = draws.leaf([3], 0.001, 0.1);
    let a = ComplexTensor::new(
        draws.leaf([2, 4], -1.0, -0.1),
        draws.leaf([2, 4], -1.0, 1.0),
    );
    let b = ComplexTensor::new(draws.leaf([2, 4], -1.0, 1.0), draws.leaf([2, 4], -1.0, 1.0));
    let c = ComplexTensor::new(
        draws.leaf([1, 2, 4], -1.0, 1.0),
        draws.leaf([1, 2, 4], -1.0, 1.0),
    );
    let err = diagonal_kernel(&dt, &a, &b, &c, Discretization::Zoh, 8).unwrap_err();
    assert!(
        err.to_string()
            .contains("diagonal_kernel: A.re (H, N)`: expected shape [3, 4], got [2, 4]"),
        "{err}"
    );
}
