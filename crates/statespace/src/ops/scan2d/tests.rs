//! The 2-D scan on the CPU: a grid by hand, the fused scan against the
//! composite in f64 (forward and every gradient), and refused shapes.

use burn::backend::Autodiff;
use burn::tensor::{DType, Tensor};
use burn_flex::Flex;

use super::{Scan2d, Scan2dInputs, scan2d, scan2d_backward_composite, scan2d_composite};
use crate::io::HostTensor;
use crate::ops::support::primitive::{float, tensor};

type AD = Autodiff<Flex>;

fn host<B: burn::tensor::backend::Backend>(t: &Tensor<B, 4>) -> Vec<f64> {
    HostTensor::from_tensor(t).data
}

/// max |a − b| / max |b|.
fn rel_err(actual: &[f64], expected: &[f64]) -> f64 {
    let scale = expected.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let err = actual
        .iter()
        .zip(expected)
        .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
    err / scale.max(f64::MIN_POSITIVE)
}

/// Random f64 inputs of a (B, T, V, E, N) grid: A₁, A₄ in [−2, −0.2],
/// couplings and projections of either sign, Δ in [0.01, 0.5].
fn inputs([b, t, v, e, n]: [usize; 5], seed: u64) -> Scan2d<AD> {
    let device = Default::default();
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(seed);
    let mut uniform = |shape: [usize; 4], low: f64, high: f64| {
        crate::random::uniform::<AD, 4>(&mut rng, shape, low, high, &device)
            .cast(DType::F64)
            .require_grad()
    };
    let (p, s, q) = ([1, 1, e, n], [b, t, v, e], [b, t, v, n]);
    Scan2dInputs {
        a1: uniform(p, -2.0, -0.2),
        a2: uniform(p, -0.5, 0.5),
        a3: uniform(p, -0.5, 0.5),
        a4: uniform(p, -2.0, -0.2),
        dt1: uniform(s, 0.01, 0.5),
        dt2: uniform(s, 0.01, 0.5),
        u: uniform(s, -1.0, 1.0),
        b1: uniform(q, -1.0, 1.0),
        b2: uniform(q, -1.0, 1.0),
        c1: uniform(q, -1.0, 1.0),
        c2: uniform(q, -1.0, 1.0),
    }
}

const GRIDS: [[usize; 5]; 4] = [
    [1, 1, 1, 1, 1],
    [2, 5, 1, 3, 2],
    [1, 1, 4, 2, 3],
    [2, 7, 5, 3, 4],
];

/// The recurrence for one (b, e, n) written out with plain numbers, on the
/// smallest grid that has both couplings: y at every cell of a 2 × 2 grid.
#[test]
fn a_two_by_two_grid_by_hand() {
    let x = inputs([1, 2, 2, 1, 1], 3);
    let values = x.clone().map(|t| host(&t));
    let scalar = |v: &Vec<f64>| v[0];
    let (a1, a2, a3, a4) = (
        scalar(&values.a1),
        scalar(&values.a2),
        scalar(&values.a3),
        scalar(&values.a4),
    );
    // Cells in (t, v) row-major order: index t * 2 + v.
    let mut h1 = [0.0; 4];
    let mut h2 = [0.0; 4];
    let mut expected = [0.0; 4];
    for t in 0..2 {
        for v in 0..2 {
            let i = t * 2 + v;
            let bar1 = (values.dt1[i] * a1).exp();
            let bar4 = (values.dt2[i] * a4).exp();
            let (phi1, phi2) = ((bar1 - 1.0) / a1, (bar4 - 1.0) / a4);
            let (h1p, h2p) = if t > 0 {
                (h1[i - 2], h2[i - 2])
            } else {
                (0.0, 0.0)
            };
            let (h1q, h2q) = if v > 0 {
                (h1[i - 1], h2[i - 1])
            } else {
                (0.0, 0.0)
            };
            let u = values.u[i];
            h1[i] = bar1 * h1p + phi1 * (a2 * h2p + values.b1[i] * u);
            h2[i] = bar4 * h2q + phi2 * (a3 * h1q + values.b2[i] * u);
            expected[i] = values.c1[i] * h1[i] + values.c2[i] * h2[i];
        }
    }
    let fused = host(&scan2d(x.clone()).unwrap());
    let composite: Tensor<AD, 4> = tensor(scan2d_composite::<AD>(x.map(float)));
    assert!(rel_err(&fused, &expected) < 1e-14, "{fused:?} {expected:?}");
    assert!(rel_err(&host(&composite), &expected) < 1e-14);
}

/// The fused CPU scan against the composite in f64, forward and every
/// gradient, on grids with one time step, one variate, or both.
#[test]
fn fused_cpu_scan_equals_the_composite() {
    for (i, grid) in GRIDS.into_iter().enumerate() {
        let x = inputs(grid, 10 + i as u64);
        let fused = scan2d(x.clone()).unwrap();
        let composite: Tensor<AD, 4> = tensor(scan2d_composite::<AD>(x.clone().map(float)));
        let err = rel_err(&host(&fused), &host(&composite));
        assert!(err < 1e-12, "y {grid:?}: {err:.2e}");

        let device = Default::default();
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(99);
        let g = crate::random::normal::<AD, 4>(&mut rng, fused.dims(), 0.0, 1.0, &device)
            .cast(DType::F64);
        let grads = (fused * g.clone()).sum().backward();
        let reference = scan2d_backward_composite::<Flex>(
            x.clone().map(|t| float(t.inner())),
            float(g.inner()),
        );
        let names = [
            "a1", "a2", "a3", "a4", "dt1", "dt2", "u", "b1", "b2", "c1", "c2",
        ];
        for ((name, t), expected) in names.iter().zip(x.into_array()).zip(reference.into_array()) {
            let ours: Tensor<Flex, 4> = t.grad(&grads).expect("a gradient");
            let expected: Tensor<Flex, 4> = tensor(expected);
            let err = rel_err(&host(&ours), &host(&expected));
            assert!(err < 1e-11, "∂{name} {grid:?}: {err:.2e}");
        }
    }
}

/// Inputs that do not make a grid are refused, naming the argument.
#[test]
fn refuses_bad_shapes() {
    let x = inputs([2, 3, 4, 5, 6], 1);
    let wrong_b1 = Scan2dInputs {
        b1: x.b1.clone().narrow(3, 0, 5),
        ..x.clone()
    };
    let err = scan2d(wrong_b1).unwrap_err().to_string();
    assert!(err.contains("b1"), "{err}");
    let wrong_a3 = Scan2dInputs {
        a3: x.a3.clone().narrow(2, 0, 4),
        ..x.clone()
    };
    let err = scan2d(wrong_a3).unwrap_err().to_string();
    assert!(err.contains("a3"), "{err}");
    let wrong_dtype = Scan2dInputs {
        dt2: x.dt2.clone().cast(DType::F32),
        ..x
    };
    let err = scan2d(wrong_dtype).unwrap_err().to_string();
    assert!(err.contains("dt2"), "{err}");
}
