//! Properties of the selective scan beyond the golden cases: gradients of
//! long sequences (several recompute chunks) against finite differences in
//! f64, packed sequences equal separate runs, and streaming with an initial
//! state equals one pass.

use burn::backend::{Autodiff, Flex};
use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use statespace::golden::rel_err;
use statespace::io::HostTensor;
use statespace::ops::{SelectiveScan, SequenceStarts, selective_scan};

use crate::common::f32_bits;

type AD = Autodiff<Flex>;

struct Data {
    batch: usize,
    dim: usize,
    n: usize,
    groups: usize,
    len: usize,
    u: Vec<f64>,
    delta: Vec<f64>,
    a: Vec<f64>,
    b: Vec<f64>,
    c: Vec<f64>,
    d: Vec<f64>,
    z: Vec<f64>,
    bias: Vec<f64>,
    init: Vec<f64>,
}

impl Data {
    fn random(batch: usize, dim: usize, n: usize, groups: usize, len: usize, seed: u64) -> Self {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut v = |k: usize, lo: f64, hi: f64| {
            (0..k)
                .map(|_| rng.random_range(lo..hi))
                .collect::<Vec<f64>>()
        };
        Self {
            batch,
            dim,
            n,
            groups,
            len,
            u: v(batch * dim * len, -1.0, 1.0),
            delta: v(batch * dim * len, -2.0, 0.5),
            a: v(dim * n, -1.5, -0.1),
            b: v(batch * groups * n * len, -1.0, 1.0),
            c: v(batch * groups * n * len, -1.0, 1.0),
            d: v(dim, -1.0, 1.0),
            z: v(batch * dim * len, -2.0, 2.0),
            bias: v(dim, -0.5, 0.5),
            init: v(batch * dim * n, -1.0, 1.0),
        }
    }
}

fn t<B: Backend, const D: usize>(v: &[f64], shape: [usize; D]) -> Tensor<B, D> {
    Tensor::from_data(
        TensorData::new(v.to_vec(), shape),
        (&Default::default(), DType::F64),
    )
}

/// sum(out · w) + sum(last · w') for fixed pseudo-random weights, in f64.
fn objective<B: statespace::ops::SelectiveScanOps>(
    x: &Data,
    starts: Option<SequenceStarts>,
) -> (Tensor<B, 1>, Vec<Tensor<B, 3>>) {
    let (bt, d, n, g, l) = (x.batch, x.dim, x.n, x.groups, x.len);
    let u = t::<B, 3>(&x.u, [bt, d, l]);
    let scan = SelectiveScan {
        d: Some(t(&x.d, [d])),
        z: Some(t(&x.z, [bt, d, l])),
        delta_bias: Some(t(&x.bias, [d])),
        delta_softplus: true,
        initial_state: Some(t(&x.init, [bt, d, n])),
        starts,
        ..SelectiveScan::new(
            u.clone(),
            t(&x.delta, [bt, d, l]),
            t(&x.a, [d, n]),
            t(&x.b, [bt, g, n, l]),
            t(&x.c, [bt, g, n, l]),
        )
    };
    let (out, last) = selective_scan(scan).unwrap();
    let w_out: Vec<f64> = (0..bt * d * l)
        .map(|i| ((i * 7 % 13) as f64 - 6.0) / 6.0)
        .collect();
    let w_last: Vec<f64> = (0..bt * d * n)
        .map(|i| ((i * 5 % 11) as f64 - 5.0) / 5.0)
        .collect();
    let value = (out.clone() * t::<B, 3>(&w_out, [bt, d, l])).sum()
        + (last.clone() * t::<B, 3>(&w_last, [bt, d, n])).sum();
    (value, vec![out, last])
}

#[test]
fn gradients_over_several_chunks_match_finite_differences() {
    let mut x = Data::random(1, 3, 4, 1, 150, 11); // 150 steps = 3 recompute chunks
    let starts = || Some(SequenceStarts::from_cu_seqlens(&[0, 70, 150], 150).unwrap());
    // Analytic gradients.
    let (bt, d, n, g, l) = (x.batch, x.dim, x.n, x.groups, x.len);
    let u = t::<AD, 3>(&x.u, [bt, d, l]).require_grad();
    let delta = t::<AD, 3>(&x.delta, [bt, d, l]).require_grad();
    let a = t::<AD, 2>(&x.a, [d, n]).require_grad();
    let b = t::<AD, 4>(&x.b, [bt, g, n, l]).require_grad();
    let c = t::<AD, 4>(&x.c, [bt, g, n, l]).require_grad();
    let dd = t::<AD, 1>(&x.d, [d]).require_grad();
    let z = t::<AD, 3>(&x.z, [bt, d, l]).require_grad();
    let bias = t::<AD, 1>(&x.bias, [d]).require_grad();
    let init = t::<AD, 3>(&x.init, [bt, d, n]).require_grad();
    let scan = SelectiveScan {
        d: Some(dd.clone()),
        z: Some(z.clone()),
        delta_bias: Some(bias.clone()),
        delta_softplus: true,
        initial_state: Some(init.clone()),
        starts: starts(),
        ..SelectiveScan::new(u.clone(), delta.clone(), a.clone(), b.clone(), c.clone())
    };
    let (out, last) = selective_scan(scan).unwrap();
    let w_out: Vec<f64> = (0..bt * d * l)
        .map(|i| ((i * 7 % 13) as f64 - 6.0) / 6.0)
        .collect();
    let w_last: Vec<f64> = (0..bt * d * n)
        .map(|i| ((i * 5 % 11) as f64 - 5.0) / 5.0)
        .collect();
    let loss = (out * t::<AD, 3>(&w_out, [bt, d, l])).sum()
        + (last * t::<AD, 3>(&w_last, [bt, d, n])).sum();
    let grads = loss.backward();
    let analytic: Vec<(&str, Vec<f64>)> = vec![
        ("u", HostTensor::from_tensor(&u.grad(&grads).unwrap()).data),
        (
            "delta",
            HostTensor::from_tensor(&delta.grad(&grads).unwrap()).data,
        ),
        ("A", HostTensor::from_tensor(&a.grad(&grads).unwrap()).data),
        ("B", HostTensor::from_tensor(&b.grad(&grads).unwrap()).data),
        ("C", HostTensor::from_tensor(&c.grad(&grads).unwrap()).data),
        ("D", HostTensor::from_tensor(&dd.grad(&grads).unwrap()).data),
        ("z", HostTensor::from_tensor(&z.grad(&grads).unwrap()).data),
        (
            "delta_bias",
            HostTensor::from_tensor(&bias.grad(&grads).unwrap()).data,
        ),
        (
            "initial_state",
            HostTensor::from_tensor(&init.grad(&grads).unwrap()).data,
        ),
    ];
    // Central differences on a spread of entries of every input.
    let eval = |x: &Data| HostTensor::from_tensor(&objective::<Flex>(x, starts()).0).data[0];
    let h = 1e-6;
    fn field<'a>(x: &'a mut Data, name: &str) -> &'a mut Vec<f64> {
        match name {
            "u" => &mut x.u,
            "delta" => &mut x.delta,
            "A" => &mut x.a,
            "B" => &mut x.b,
            "C" => &mut x.c,
            "D" => &mut x.d,
            "z" => &mut x.z,
            "delta_bias" => &mut x.bias,
            _ => &mut x.init,
        }
    }
    for (name, grad) in analytic {
        let len = grad.len();
        for idx in [0, len / 3, len / 2, 2 * len / 3, len - 1] {
            let orig = field(&mut x, name)[idx];
            field(&mut x, name)[idx] = orig + h;
            let plus = eval(&x);
            field(&mut x, name)[idx] = orig - h;
            let minus = eval(&x);
            field(&mut x, name)[idx] = orig;
            let numeric = (plus - minus) / (2.0 * h);
            let scale = numeric.abs().max(1.0);
            assert!(
                (numeric - grad[idx]).abs() / scale < 1e-6,
                "d/d{name}[{idx}]: analytic {} vs numeric {numeric}",
                grad[idx]
            );
        }
    }
}

#[test]
fn packed_sequences_equal_separate_runs() {
    let x = Data::random(1, 4, 3, 2, 90, 5);
    let cut = 40;
    let starts = SequenceStarts::from_cu_seqlens(&[0, cut, 90], 90).unwrap();
    let packed = objective::<Flex>(&x, Some(starts)).1;
    let (packed_out, packed_last) = (
        HostTensor::from_tensor(&packed[0]).data,
        HostTensor::from_tensor(&packed[1]).data,
    );
    let (d, n, g, l) = (x.dim, x.n, x.groups, x.len);
    // Steps [from, to) of every row of a (rows, L) tensor.
    let sub = |v: &[f64], rows: usize, from: usize, to: usize| -> Vec<f64> {
        (0..rows)
            .flat_map(|r| v[r * l + from..r * l + to].to_vec())
            .collect()
    };
    let piece = |from: usize, to: usize, init: Vec<f64>| Data {
        batch: 1,
        dim: d,
        n,
        groups: g,
        len: to - from,
        u: sub(&x.u, d, from, to),
        delta: sub(&x.delta, d, from, to),
        a: x.a.clone(),
        b: sub(&x.b, g * n, from, to),
        c: sub(&x.c, g * n, from, to),
        d: x.d.clone(),
        z: sub(&x.z, d, from, to),
        bias: x.bias.clone(),
        init,
    };
    // The first sequence starts from the initial state, the second from zero.
    let first = objective::<Flex>(&piece(0, cut, x.init.clone()), None).1;
    let second = objective::<Flex>(&piece(cut, l, vec![0.0; d * n]), None).1;
    for (what, packed_part, alone) in [
        (
            "first sequence's output",
            sub(&packed_out, d, 0, cut),
            &first[0],
        ),
        (
            "second sequence's output",
            sub(&packed_out, d, cut, l),
            &second[0],
        ),
        ("last state", packed_last.clone(), &second[1]),
    ] {
        let alone = HostTensor::from_tensor(alone).data;
        assert_eq!(packed_part.len(), alone.len(), "{what}: lengths");
        let err = rel_err(&packed_part, &alone);
        assert!(
            err < 1e-12,
            "{what} differs from a separate run by {err:.2e}"
        );
    }
}

#[test]
fn streaming_with_initial_state_equals_one_pass() {
    let mut x = Data::random(2, 3, 4, 1, 100, 9);
    x.init = vec![0.0; x.batch * x.dim * x.n];
    let full = objective::<Flex>(&x, None).1;
    let cut = 37;
    let (l, rows_u, rows_b) = (x.len, x.batch * x.dim, x.batch * x.groups * x.n);
    let part = |v: &[f64], rows: usize, from: usize, to: usize| -> Vec<f64> {
        (0..rows)
            .flat_map(|r| v[r * l + from..r * l + to].to_vec())
            .collect()
    };
    let piece = |from: usize, to: usize, init: Vec<f64>| Data {
        len: to - from,
        u: part(&x.u, rows_u, from, to),
        delta: part(&x.delta, rows_u, from, to),
        b: part(&x.b, rows_b, from, to),
        c: part(&x.c, rows_b, from, to),
        z: part(&x.z, rows_u, from, to),
        init,
        a: x.a.clone(),
        d: x.d.clone(),
        bias: x.bias.clone(),
        ..Data::random(x.batch, x.dim, x.n, x.groups, 1, 0)
    };
    let first = objective::<Flex>(&piece(0, cut, x.init.clone()), None).1;
    let carried = HostTensor::from_tensor(&first[1]).data;
    let second = objective::<Flex>(&piece(cut, l, carried), None).1;
    let streamed: Vec<f64> = {
        let a = HostTensor::from_tensor(&first[0]).data;
        let b = HostTensor::from_tensor(&second[0]).data;
        (0..rows_u)
            .flat_map(|r| {
                a[r * cut..(r + 1) * cut]
                    .iter()
                    .chain(&b[r * (l - cut)..(r + 1) * (l - cut)])
                    .copied()
                    .collect::<Vec<_>>()
            })
            .collect()
    };
    let err = rel_err(&streamed, &HostTensor::from_tensor(&full[0]).data);
    assert!(err < 1e-12, "streamed output differs by {err:.2e}");
    let err = rel_err(
        &HostTensor::from_tensor(&second[1]).data,
        &HostTensor::from_tensor(&full[1]).data,
    );
    assert!(err < 1e-12, "streamed last state differs by {err:.2e}");
}

/// The CPU backward sums ∂A, ∂B, ∂C, ∂D and ∂δ_bias over rows in parallel;
/// with many rows the sums must still come out the same, bit for bit, on
/// every run (rayon's adaptive fold once made them differ at 1e-8).
#[test]
fn cpu_gradients_repeat_bit_for_bit_over_many_rows() {
    let x = Data::random(4, 64, 8, 2, 20, 5);
    let (bt, d, n, g, l) = (x.batch, x.dim, x.n, x.groups, x.len);
    fn f32_leaf<const D: usize>(v: &[f64], shape: [usize; D]) -> Tensor<AD, D> {
        Tensor::<AD, 1>::from_data(
            TensorData::new(v.iter().map(|&x| x as f32).collect::<Vec<_>>(), [v.len()]),
            &Default::default(),
        )
        .reshape(shape)
        .require_grad()
    }
    let run = || {
        let a: Tensor<AD, 2> = f32_leaf(&x.a, [d, n]);
        let b: Tensor<AD, 4> = f32_leaf(&x.b, [bt, g, n, l]);
        let c: Tensor<AD, 4> = f32_leaf(&x.c, [bt, g, n, l]);
        let dd: Tensor<AD, 1> = f32_leaf(&x.d, [d]);
        let bias: Tensor<AD, 1> = f32_leaf(&x.bias, [d]);
        let scan = SelectiveScan {
            d: Some(dd.clone()),
            z: Some(f32_leaf(&x.z, [bt, d, l])),
            delta_bias: Some(bias.clone()),
            delta_softplus: true,
            initial_state: Some(f32_leaf(&x.init, [bt, d, n])),
            ..SelectiveScan::new(
                f32_leaf(&x.u, [bt, d, l]),
                f32_leaf(&x.delta, [bt, d, l]),
                a.clone(),
                b.clone(),
                c.clone(),
            )
        };
        let (out, last) = selective_scan(scan).unwrap();
        let grads = (out.sum() + last.sum()).backward();
        [
            f32_bits(a.grad(&grads).unwrap()),
            f32_bits(b.grad(&grads).unwrap()),
            f32_bits(c.grad(&grads).unwrap()),
            f32_bits(dd.grad(&grads).unwrap()),
            f32_bits(bias.grad(&grads).unwrap()),
        ]
    };
    let first = run();
    for _ in 0..4 {
        assert!(run() == first, "a rerun summed the gradients differently");
    }
}
