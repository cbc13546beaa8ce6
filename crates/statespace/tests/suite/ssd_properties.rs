//! SSD beyond the golden case: packed sequences equal running each alone,
//! and streaming chunk by chunk (initial state in, final state out) equals
//! one pass.

use burn::backend::Flex;
use burn::tensor::{DType, Tensor};
use statespace::golden::rel_err;
use statespace::io::HostTensor;
use statespace::ops::{SequenceStarts, Ssd, ssd};

use crate::common::{Draws, f32_bits};

type B = Flex;

struct Inputs {
    x: Tensor<B, 4>,
    a: Tensor<B, 3>,
    b: Tensor<B, 4>,
    c: Tensor<B, 4>,
}

fn inputs(len: usize) -> Inputs {
    let (batch, heads, p, groups, n) = (2, 4, 3, 2, 5);
    let mut draws = Draws::new(len as u64);
    Inputs {
        x: draws.uniform([batch, len, heads, p], -1.0, 1.0),
        a: draws.uniform([batch, len, heads], -0.5, -0.01),
        b: draws.uniform([batch, len, groups, n], -1.0, 1.0),
        c: draws.uniform([batch, len, groups, n], -1.0, 1.0),
    }
}

fn part(t: &Inputs, from: usize, to: usize) -> Inputs {
    Inputs {
        x: t.x.clone().narrow(1, from, to - from),
        a: t.a.clone().narrow(1, from, to - from),
        b: t.b.clone().narrow(1, from, to - from),
        c: t.c.clone().narrow(1, from, to - from),
    }
}

fn run(
    t: &Inputs,
    chunk: usize,
    h0: Option<Tensor<B, 4>>,
    starts: Option<SequenceStarts>,
) -> (Tensor<B, 4>, Tensor<B, 4>) {
    ssd(Ssd {
        x: t.x.clone(),
        a: t.a.clone(),
        b: t.b.clone(),
        c: t.c.clone(),
        chunk_size: chunk,
        initial_state: h0,
        starts,
    })
    .unwrap()
}

#[test]
fn streaming_equals_one_pass() {
    let t = inputs(50);
    let (y, last) = run(&t, 8, None, None);
    let (y1, h1) = run(&part(&t, 0, 21), 8, None, None);
    let (y2, h2) = run(&part(&t, 21, 50), 5, Some(h1), None);
    let streamed = Tensor::cat(vec![y1, y2], 1);
    assert!(
        rel_err(
            &HostTensor::from_tensor(&streamed).data,
            &HostTensor::from_tensor(&y).data
        ) < 1e-12
    );
    assert!(
        rel_err(
            &HostTensor::from_tensor(&h2).data,
            &HostTensor::from_tensor(&last).data
        ) < 1e-12
    );
}

#[test]
fn packed_sequences_equal_separate_runs() {
    let t = inputs(40);
    let cut = 17;
    let rows = vec![
        (0..40)
            .map(|i| if i < cut { 0 } else { 1 })
            .collect::<Vec<i64>>();
        2
    ];
    let (packed, packed_last) = run(&t, 8, None, Some(SequenceStarts::from_seq_idx(&rows)));
    let (first, _) = run(&part(&t, 0, cut), 8, None, None);
    let (second, second_last) = run(&part(&t, cut, 40), 8, None, None);
    let separate = Tensor::cat(vec![first, second], 1);
    let err = rel_err(
        &HostTensor::from_tensor(&packed).data,
        &HostTensor::from_tensor(&separate).data,
    );
    assert!(err < 1e-12, "packed output differs by {err:.2e}");
    let err = rel_err(
        &HostTensor::from_tensor(&packed_last).data,
        &HostTensor::from_tensor(&second_last).data,
    );
    assert!(err < 1e-12, "packed final state differs by {err:.2e}");
}

/// The backend op (CPU recurrence, own backward) and the chunked composite
/// (autodiff through tensor ops) agree on outputs and on every gradient,
/// with an initial state and packed sequences, over several checkpoint spans.
#[test]
fn op_and_chunked_composite_agree_with_gradients() {
    use burn::backend::Autodiff;
    use statespace::ops::ssd_chunked;
    type AD = Autodiff<Flex>;
    let len = 41;
    let t = inputs(len);
    let mut draws = Draws::new(3);
    let h0 = draws.uniform::<B, 4>([2, 4, 3, 5], -1.0, 1.0);
    let seq_idx = vec![
        (0..len as i64).map(|i| i / 17).collect::<Vec<_>>(),
        vec![0; len],
    ];
    let w_y = draws.uniform::<B, 4>(t.x.dims(), -1.0, 1.0);
    let w_last = h0.clone().flip([3]);
    let grads_of = |chunked: bool| -> Vec<Vec<f64>> {
        let leaf = |x: Tensor<B, 4>| Tensor::<AD, 4>::from_inner(x).require_grad();
        let (x, b, c, h) = (
            leaf(t.x.clone()),
            leaf(t.b.clone()),
            leaf(t.c.clone()),
            leaf(h0.clone()),
        );
        let a = Tensor::<AD, 3>::from_inner(t.a.clone()).require_grad();
        let s = Ssd {
            x: x.clone(),
            a: a.clone(),
            b: b.clone(),
            c: c.clone(),
            chunk_size: 6,
            initial_state: Some(h.clone()),
            starts: Some(SequenceStarts::from_seq_idx(&seq_idx)),
        };
        let (y, last) = if chunked { ssd_chunked(s) } else { ssd(s) }.unwrap();
        let loss = (y.clone() * Tensor::from_inner(w_y.clone())).sum()
            + (last.clone() * Tensor::from_inner(w_last.clone())).sum();
        let g = loss.backward();
        let host4 = |t: Tensor<B, 4>| HostTensor::from_tensor(&t).data;
        vec![
            host4(y.inner()),
            host4(last.inner()),
            host4(x.grad(&g).unwrap()),
            HostTensor::from_tensor(&a.grad(&g).unwrap()).data,
            host4(b.grad(&g).unwrap()),
            host4(c.grad(&g).unwrap()),
            host4(h.grad(&g).unwrap()),
        ]
    };
    let (op, chunked) = (grads_of(false), grads_of(true));
    for (name, (o, c)) in ["y", "final", "dx", "da", "dB", "dC", "dh0"]
        .iter()
        .zip(op.iter().zip(&chunked))
    {
        let err = rel_err(o, c);
        assert!(err < 1e-10, "{name}: {err:.2e}");
    }
}

/// The CPU backward sums ∂B and ∂C over the heads of a group in parallel;
/// with many heads the sums must come out the same, bit for bit, on every
/// run (rayon's adaptive fold once made them differ).
#[test]
fn cpu_gradients_repeat_bit_for_bit_over_many_heads() {
    use burn::backend::Autodiff;
    type AD = Autodiff<Flex>;
    let device = Default::default();
    let (batch, len, heads, p, groups, n) = (8, 40, 64, 3, 2, 5);
    let mut draws = Draws::new(4);
    let mut draw = |shape: [usize; 4], lo: f64, hi: f64| {
        draws
            .uniform::<B, 4>(shape, lo, hi)
            .cast(DType::F32)
            .into_data()
    };
    let x = draw([batch, len, heads, p], -1.0, 1.0);
    let a = draw([batch, len, heads, 1], -0.5, -0.01);
    let b = draw([batch, len, groups, n], -1.0, 1.0);
    let c = draw([batch, len, groups, n], -1.0, 1.0);
    let run = || {
        let leaf = |d: &burn::tensor::TensorData| {
            Tensor::<AD, 4>::from_data(d.clone(), &device).require_grad()
        };
        let (bl, cl) = (leaf(&b), leaf(&c));
        let (y, last) = ssd(Ssd {
            x: leaf(&x),
            a: leaf(&a).reshape([batch, len, heads]),
            b: bl.clone(),
            c: cl.clone(),
            chunk_size: 8,
            initial_state: None,
            starts: None,
        })
        .unwrap();
        let grads = (y.sum() + last.sum()).backward();
        [
            f32_bits(bl.grad(&grads).unwrap()),
            f32_bits(cl.grad(&grads).unwrap()),
        ]
    };
    let first = run();
    for _ in 0..4 {
        assert!(run() == first, "a rerun summed the gradients differently");
    }
}
