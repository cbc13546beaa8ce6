//! The fused DPLR generating function (Cauchy sums + Woodbury, one op) and
//! its factorised backward equal the composite of Cauchy products and its
//! autodiff gradients where both are well conditioned; in f32 it stays near
//! the f64 result; bad input is refused with the argument named.

use burn::tensor::{DType, Tensor};
use num_complex::Complex64;
use statespace::complex::ComplexTensor;
use statespace::golden::rel_err;
use statespace::io::HostTensor;
use statespace::ops::dplr_spectrum;
use statespace::ops::dplr_spectrum::reference::dplr_spectrum_reference;

use crate::common::{CpuAutodiff as AD, Draws, grad_values};

/// One random system: Δ, λ (Re λ < 0), B, P (rank r), C̃ (Cc channels).
struct System {
    dt: Tensor<AD, 1>,
    lambda: ComplexTensor<AD, 2>,
    b: ComplexTensor<AD, 2>,
    p: ComplexTensor<AD, 3>,
    c: ComplexTensor<AD, 3>,
}

impl System {
    fn draw(draws: &mut Draws, channels: usize, h: usize, n: usize, rank: usize) -> Self {
        let mut pair2 = |shape: [usize; 2], lo: f64, hi: f64, spread: f64| {
            ComplexTensor::new(
                draws.leaf(shape, lo, hi),
                draws.leaf(shape, -spread, spread),
            )
        };
        let lambda = pair2([h, n], -0.8, -0.1, 5.0);
        let b = pair2([h, n], -1.0, 1.0, 1.0);
        let mut pair3 = |shape: [usize; 3]| {
            ComplexTensor::new(draws.leaf(shape, -1.0, 1.0), draws.leaf(shape, -1.0, 1.0))
        };
        let p = pair3([rank, h, n]);
        let c = pair3([channels, h, n]);
        Self {
            dt: draws.leaf([h], 0.01, 0.1),
            lambda,
            b,
            p,
            c,
        }
    }
}

/// Nodes 2i·tan(πk/L), k < ⌈L/2⌉, as the DPLR kernel uses them.
fn nodes(len: usize) -> Vec<Complex64> {
    (0..len.div_ceil(2))
        .map(|k| {
            Complex64::new(
                0.0,
                2.0 * (std::f64::consts::PI * k as f64 / len as f64).tan(),
            )
        })
        .collect()
}

fn host<const D: usize>(t: &Tensor<AD, D>) -> Vec<f64> {
    HostTensor::from_tensor(t).data
}

#[test]
fn fused_spectrum_and_gradients_equal_composite() {
    let mut draws = Draws::new(7);
    // (Cc, H, N, r, L): one and two channels, ranks 1 and 2, odd and even L.
    for (channels, h, n, rank, len) in [(1, 3, 4, 1, 16), (2, 2, 5, 2, 9), (1, 1, 1, 1, 2)] {
        let s = System::draw(&mut draws, channels, h, n, rank);
        let nodes = nodes(len);
        let case = format!("{:?}", (channels, h, n, rank, len));
        let fused = dplr_spectrum(&s.dt, &s.lambda, &s.b, &s.p, &s.c, &nodes).unwrap();
        let composite =
            dplr_spectrum_reference(&s.dt, &s.lambda, &s.b, &s.p, &s.c, &nodes).unwrap();
        for (ours, theirs) in [(&fused.re, &composite.re), (&fused.im, &composite.im)] {
            let err = rel_err(&host(ours), &host(theirs));
            assert!(err < 1e-12, "forward {case}: {err:.2e}");
        }
        let count = nodes.len();
        let g_re = draws.uniform::<AD, 3>([h, channels, count], -1.0, 1.0);
        let g_im = draws.uniform::<AD, 3>([h, channels, count], -1.0, 1.0);
        let loss = |y: &ComplexTensor<AD, 3>| {
            (y.re.clone() * g_re.clone()).sum() + (y.im.clone() * g_im.clone()).sum()
        };
        let g1 = loss(&fused).backward();
        let g2 = loss(&composite).backward();
        let grads = |g| -> Vec<(&str, Vec<f64>)> {
            vec![
                ("dt", grad_values(&s.dt, g)),
                ("lambda.re", grad_values(&s.lambda.re, g)),
                ("lambda.im", grad_values(&s.lambda.im, g)),
                ("B.re", grad_values(&s.b.re, g)),
                ("B.im", grad_values(&s.b.im, g)),
                ("P.re", grad_values(&s.p.re, g)),
                ("P.im", grad_values(&s.p.im, g)),
                ("C.re", grad_values(&s.c.re, g)),
                ("C.im", grad_values(&s.c.im, g)),
            ]
        };
        for ((name, ours), (_, theirs)) in grads(&g1).into_iter().zip(grads(&g2)) {
            let err = rel_err(&ours, &theirs);
            assert!(err < 1e-11, "grad {name} {case}: {err:.2e}");
        }
    }
}

/// With a pole next to the node s = 0 (FouT's clamped mode, λ = −1e-4 −
/// 1e-4 i) the gradient of that pole matches fourth-order central
/// differences of the (well-conditioned) f64 forward. The golden FouT cases
/// test the same against a 40-digit evaluation (`tests/s4_golden.rs`).
#[test]
fn fused_gradient_is_accurate_beside_a_near_dc_pole() {
    let mut draws = Draws::new(11);
    let (channels, h, n, rank, len) = (1, 1, 4, 1, 64);
    let s = System::draw(&mut draws, channels, h, n, rank);
    // Mode 0 at λ = −1e-4 − 1e-4 i.
    let mut re = host(&s.lambda.re);
    let mut im = host(&s.lambda.im);
    re[0] = -1e-4;
    im[0] = -1e-4;
    let lambda_at = |re: &[f64], im: &[f64]| {
        ComplexTensor::new(
            Tensor::<AD, 2>::from_data(
                burn::tensor::TensorData::new(re.to_vec(), [h, n]),
                (&Default::default(), DType::F64),
            )
            .require_grad(),
            Tensor::<AD, 2>::from_data(
                burn::tensor::TensorData::new(im.to_vec(), [h, n]),
                (&Default::default(), DType::F64),
            )
            .require_grad(),
        )
    };
    let nodes = nodes(len);
    let count = nodes.len();
    let g_re = draws.uniform::<AD, 3>([h, channels, count], -1.0, 1.0);
    let g_im = draws.uniform::<AD, 3>([h, channels, count], -1.0, 1.0);
    let loss_of = |y: &ComplexTensor<AD, 3>| {
        (y.re.clone() * g_re.clone()).sum() + (y.im.clone() * g_im.clone()).sum()
    };
    let value = |re: &[f64], im: &[f64]| {
        let lambda = lambda_at(re, im);
        let y = dplr_spectrum(&s.dt, &lambda, &s.b, &s.p, &s.c, &nodes).unwrap();
        host(&loss_of(&y))[0]
    };
    // d/d Im λ₀ by a fourth-order central difference (the loss is smooth in λ).
    let step = 1e-7;
    let at = |d: f64| {
        let mut im2 = im.clone();
        im2[0] += d;
        value(&re, &im2)
    };
    let numeric =
        (8.0 * (at(step) - at(-step)) - (at(2.0 * step) - at(-2.0 * step))) / (12.0 * step);
    let lambda = lambda_at(&re, &im);
    let fused = dplr_spectrum(&s.dt, &lambda, &s.b, &s.p, &s.c, &nodes).unwrap();
    let fused_grad = grad_values(&lambda.im, &loss_of(&fused).backward())[0];
    let fused_err = (fused_grad - numeric).abs() / numeric.abs();
    assert!(
        fused_err < 1e-8,
        "fused gradient {fused_grad} vs differences {numeric}"
    );
}

#[test]
fn f32_spectrum_stays_near_f64() {
    let mut draws = Draws::new(3);
    let s = System::draw(&mut draws, 2, 3, 6, 1);
    let nodes = nodes(40);
    let y64 = dplr_spectrum(&s.dt, &s.lambda, &s.b, &s.p, &s.c, &nodes).unwrap();
    let f32c = |t: &ComplexTensor<AD, 2>| t.map(|x| x.cast(DType::F32));
    let f32c3 = |t: &ComplexTensor<AD, 3>| t.map(|x| x.cast(DType::F32));
    let y32 = dplr_spectrum(
        &s.dt.clone().cast(DType::F32),
        &f32c(&s.lambda),
        &f32c(&s.b),
        &f32c3(&s.p),
        &f32c3(&s.c),
        &nodes,
    )
    .unwrap();
    for (a, b) in [(&y32.re, &y64.re), (&y32.im, &y64.im)] {
        let err = rel_err(&host(a), &host(b));
        assert!(err < 1e-5, "f32 vs f64: {err:.2e}");
    }
}

#[test]
fn bad_shapes_ranks_and_dtypes_are_named() {
    let mut draws = Draws::new(5);
    let s = System::draw(&mut draws, 1, 2, 3, 1);
    let nodes = nodes(8);
    let wrong_b = s.b.map(|t| t.narrow(1, 0, 2));
    let err = dplr_spectrum(&s.dt, &s.lambda, &wrong_b, &s.p, &s.c, &nodes).unwrap_err();
    assert!(err.to_string().contains("B (H, N)"), "{err}");
    let wrong_c = s.c.map(|t| t.narrow(1, 0, 1));
    let err = dplr_spectrum(&s.dt, &s.lambda, &s.b, &s.p, &wrong_c, &nodes).unwrap_err();
    assert!(err.to_string().contains("C (channels, H, N)"), "{err}");
    let rank3 = ComplexTensor::new(
        Tensor::cat(vec![s.p.re.clone(); 3], 0),
        Tensor::cat(vec![s.p.im.clone(); 3], 0),
    );
    let err = dplr_spectrum(&s.dt, &s.lambda, &s.b, &rank3, &s.c, &nodes).unwrap_err();
    assert!(err.to_string().contains("rank"), "{err}");
    let mixed = s.b.map(|t| t.cast(DType::F32));
    let err = dplr_spectrum(&s.dt, &s.lambda, &mixed, &s.p, &s.c, &nodes).unwrap_err();
    assert!(err.to_string().contains("B.re"), "{err}");
    let half = s.dt.clone().cast(DType::BF16);
    let err = dplr_spectrum(&half, &s.lambda, &s.b, &s.p, &s.c, &nodes).unwrap_err();
    assert!(err.to_string().contains("dt"), "{err}");
}
