//! Bad input to the op entry points (`statespace::ops`) gets an error naming
//! the op and the argument, never a panic inside a kernel; and the CPU
//! kernels take 16-bit floats (computed in f32) as well as f32 and f64.
//!
//! The CPU backend has one device, so the device checks cannot be made to
//! fail here.

use crate::common::Draws;
use burn::backend::{Autodiff, Flex};
use burn::tensor::quantization::QuantScheme;
use burn::tensor::{DType, Int, Tensor, TensorData};
use num_complex::Complex64;
use statespace::Error;
use statespace::complex::ComplexTensor;
use statespace::discretize::Discretization;
use statespace::golden::rel_err;
use statespace::io::HostTensor;
use statespace::ops::cross_entropy::check_cross_entropy;
use statespace::ops::{
    NormKind, RotaryPairs, SelectiveScan, Ssd, add_bias, cauchy, causal_conv, causal_conv1d,
    diagonal_kernel, dplr_spectrum, embedding, gelu, irfft, matmul, mean_cross_entropy, norm,
    prefix_sum, rfft, rotary, scale_columns, selective_scan, ssd, ssd_chunked, two_sided_conv,
    vandermonde,
};

type B = Flex;
type Ad = Autodiff<Flex>;

/// Asserts that `result` failed with a message containing every one of
/// `needles` (the op and the argument at fault).
#[track_caller]
fn assert_refused<T>(result: statespace::Result<T>, needles: &[&str]) {
    let Err(err) = result else {
        panic!("expected an error naming {needles:?}, got Ok");
    };
    let message = err.to_string();
    for needle in needles {
        assert!(message.contains(needle), "{needle:?} not in: {message}");
    }
}

/// A standard normal f32 tensor.
fn f32s<const D: usize>(draws: &mut Draws, shape: [usize; D]) -> Tensor<B, D> {
    draws.normal::<B, D>(shape, DType::F32)
}

/// `t` stored quantized (8-bit, one scale): a float tensor whose dtype is
/// not a float type.
fn quantized<const D: usize>(t: Tensor<B, D>) -> Tensor<B, D> {
    t.quantize_dynamic(&QuantScheme::default())
}

/// Tokens (1, n) counting up from 0.
fn tokens(n: usize) -> Tensor<B, 2, Int> {
    let ids: Vec<i64> = (0..n as i64).collect();
    Tensor::from_data(TensorData::new(ids, [1, n]), &Default::default())
}

fn complex<const D: usize>(draws: &mut Draws, shape: [usize; D]) -> ComplexTensor<B, D> {
    ComplexTensor::new(f32s(draws, shape), f32s(draws, shape))
}

#[test]
fn causal_conv1d_refuses_kernel_width_zero() {
    let mut draws = Draws::new(1);
    let x = f32s(&mut draws, [2, 5, 3]);
    let weight = f32s(&mut draws, [3, 1, 0]);
    let result = causal_conv1d(x, weight, None, None, true);
    assert_refused(
        result,
        &["causal_conv1d", "weight", "[3, 1, 2]", "[3, 1, 0]"],
    );
}

#[test]
fn causal_conv1d_refuses_bias_and_state_of_the_wrong_length() {
    let mut draws = Draws::new(2);
    let (x, weight) = (f32s(&mut draws, [2, 5, 3]), f32s(&mut draws, [3, 1, 4]));
    let bias = f32s(&mut draws, [4]);
    let result = causal_conv1d(x.clone(), weight.clone(), Some(bias), None, false);
    assert_refused(result, &["causal_conv1d: bias", "[3]", "[4]"]);
    let state = f32s(&mut draws, [2, 3, 2]);
    let result = causal_conv1d(x.clone(), weight.clone(), None, Some(state), false);
    assert_refused(result, &["causal_conv1d: state", "[2, 3, 3]", "[2, 3, 2]"]);
    let wrong_channels = f32s(&mut draws, [4, 1, 4]);
    assert_refused(
        causal_conv1d(x, wrong_channels, None, None, false),
        &["causal_conv1d: weight"],
    );
}

#[test]
fn causal_conv1d_refuses_mixed_dtypes() {
    let mut draws = Draws::new(3);
    let (x, weight) = (f32s(&mut draws, [2, 5, 3]), f32s(&mut draws, [3, 1, 4]));
    let bias = draws.normal::<B, 1>([3], DType::F64);
    let result = causal_conv1d(x, weight, Some(bias), None, true);
    assert_refused(result, &["causal_conv1d", "`bias`", "F64"]);
}

#[test]
fn gelu_refuses_a_quantized_tensor() {
    // GELU takes any shape: only the dtype can be wrong.
    let x = quantized(f32s(&mut Draws::new(4), [3, 4]));
    assert_refused(gelu(x), &["gelu", "`x`"]);
}

#[test]
fn prefix_sum_refuses_a_quantized_tensor() {
    // Running sums take any (B, L, F): only the dtype can be wrong.
    let x = quantized(f32s(&mut Draws::new(4), [2, 3, 4]));
    assert_refused(prefix_sum(x, false), &["prefix_sum", "`x`"]);
}

#[test]
fn matmul_refuses_mismatched_inner_sizes_and_mixed_dtypes() {
    let mut draws = Draws::new(5);
    let lhs = f32s(&mut draws, [2, 4, 3]);
    let result = matmul(lhs.clone(), f32s(&mut draws, [2, 5, 6]));
    assert_refused(result, &["matmul: rhs", "[2, 3, 6]", "[2, 5, 6]"]);
    let result = matmul(lhs.clone(), f32s(&mut draws, [3, 3, 6]));
    assert_refused(result, &["matmul: rhs", "[2, 3, 6]", "[3, 3, 6]"]);
    let result = matmul(lhs, draws.normal::<B, 3>([2, 3, 6], DType::F64));
    assert_refused(result, &["matmul", "`rhs`", "F64"]);
}

#[test]
fn add_bias_refuses_a_bias_of_the_wrong_width_and_mixed_dtypes() {
    let mut draws = Draws::new(6);
    let y = f32s(&mut draws, [4, 3]);
    assert_refused(
        add_bias(y.clone(), f32s(&mut draws, [4])),
        &["add_bias: b", "[3]", "[4]"],
    );
    let b = draws.normal::<B, 1>([3], DType::F64);
    assert_refused(add_bias(y, b), &["add_bias", "`b`", "F64"]);
}

#[test]
fn scale_columns_refuses_a_scale_of_the_wrong_width_and_mixed_dtypes() {
    let mut draws = Draws::new(8);
    let x = f32s(&mut draws, [4, 3]);
    assert_refused(
        scale_columns(x.clone(), f32s(&mut draws, [4])),
        &["scale_columns: w", "[3]", "[4]"],
    );
    let w = draws.normal::<B, 1>([3], DType::F64);
    assert_refused(scale_columns(x, w), &["scale_columns", "`w`", "F64"]);
}

#[test]
fn norm_refuses_wrong_lengths_a_bias_for_rmsnorm_and_mixed_dtypes() {
    let mut draws = Draws::new(7);
    let x = f32s(&mut draws, [2, 3, 5]);
    let (w, b) = (f32s(&mut draws, [5]), f32s(&mut draws, [5]));
    let short = f32s(&mut draws, [4]);
    assert_refused(
        norm(x.clone(), short.clone(), None, 1e-5, NormKind::Rms),
        &["norm: weight", "[5]", "[4]"],
    );
    assert_refused(
        norm(x.clone(), w.clone(), Some(short), 1e-5, NormKind::Layer),
        &["norm: bias", "[5]", "[4]"],
    );
    assert_refused(
        norm(x.clone(), w.clone(), Some(b), 1e-5, NormKind::Rms),
        &["norm: bias", "RMSNorm"],
    );
    let w64 = draws.normal::<B, 1>([5], DType::F64);
    assert_refused(
        norm(x, w64, None, 1e-5, NormKind::Rms),
        &["norm", "`weight`", "F64"],
    );
}

#[test]
fn embedding_refuses_an_empty_table_and_a_quantized_one() {
    let mut draws = Draws::new(8);
    let empty = f32s(&mut draws, [0, 4]);
    assert_refused(
        embedding(empty, tokens(3)),
        &["embedding: weight", "[1, 4]", "[0, 4]"],
    );
    let table = quantized(f32s(&mut draws, [5, 4]));
    assert_refused(embedding(table, tokens(3)), &["embedding", "`weight`"]);
}

#[test]
fn cross_entropy_checks_name_the_labels_and_the_logits() {
    let mut draws = Draws::new(9);
    let logits = f32s(&mut draws, [3, 5]);
    let labels = tokens(4).reshape([4]);
    assert_refused(
        check_cross_entropy(&logits, &labels),
        &["mean_cross_entropy: labels", "[3]", "[4]"],
    );
    let labels = tokens(3).reshape([3]);
    assert_refused(
        check_cross_entropy(&quantized(logits), &labels),
        &["mean_cross_entropy", "`logits`"],
    );
}

#[test]
fn mean_cross_entropy_refuses_a_label_count_mismatch() {
    let logits = f32s(&mut Draws::new(10), [3, 5]);
    assert_refused(
        mean_cross_entropy(logits, tokens(4).reshape([4])),
        &["mean_cross_entropy: labels", "[3]", "[4]"],
    );
}

#[test]
fn causal_conv_refuses_mismatched_kernels_skips_and_dtypes() {
    let mut draws = Draws::new(11);
    let u = f32s(&mut draws, [2, 8, 3]);
    let (k, d) = (f32s(&mut draws, [2, 3, 8]), f32s(&mut draws, [2, 3]));
    assert_refused(
        causal_conv(u.clone(), f32s(&mut draws, [2, 4, 8]), d.clone()),
        &["causal_conv: k", "[2, 3, 8]", "[2, 4, 8]"],
    );
    assert_refused(
        causal_conv(u.clone(), k.clone(), f32s(&mut draws, [1, 3])),
        &["causal_conv: d", "[2, 3]", "[1, 3]"],
    );
    assert_refused(
        causal_conv(u.clone(), f32s(&mut draws, [2, 3, 0]), d.clone()),
        &["causal_conv: k"],
    );
    let d64 = draws.normal::<B, 2>([2, 3], DType::F64);
    assert_refused(causal_conv(u, k, d64), &["causal_conv", "`d`", "F64"]);
}

#[test]
fn two_sided_conv_refuses_mismatched_kernels_empty_kernels_and_dtypes() {
    let mut draws = Draws::new(13);
    let u = f32s(&mut draws, [2, 8, 3]);
    let (k, d) = (f32s(&mut draws, [2, 3, 8]), f32s(&mut draws, [2, 3]));
    assert_refused(
        two_sided_conv(u.clone(), k.clone(), f32s(&mut draws, [1, 3, 8]), d.clone()),
        &["two_sided_conv: anticausal", "[2, 3, 8]", "[1, 3, 8]"],
    );
    assert_refused(
        two_sided_conv(u.clone(), f32s(&mut draws, [2, 3, 0]), k.clone(), d.clone()),
        &["two_sided_conv: causal"],
    );
    assert_refused(
        two_sided_conv(u.clone(), k.clone(), f32s(&mut draws, [2, 3, 0]), d.clone()),
        &["two_sided_conv: anticausal"],
    );
    assert_refused(
        two_sided_conv(u.clone(), k.clone(), k.clone(), f32s(&mut draws, [2, 4])),
        &["two_sided_conv: d", "[2, 3]", "[2, 4]"],
    );
    let k64 = draws.normal::<B, 3>([2, 3, 8], DType::F64);
    assert_refused(
        two_sided_conv(u, k, k64, d),
        &["two_sided_conv", "`anticausal`", "F64"],
    );
}

#[test]
fn rfft_refuses_length_zero_an_empty_axis_and_a_quantized_signal() {
    let mut draws = Draws::new(12);
    let signal = f32s(&mut draws, [3, 8]);
    assert_refused(rfft(signal.clone(), 0), &["rfft: n"]);
    assert_refused(
        rfft(f32s(&mut draws, [3, 0]), 8),
        &["rfft: signal", "[3, 1]", "[3, 0]"],
    );
    assert_refused(rfft(quantized(signal), 8), &["rfft", "`signal`"]);
}

#[test]
fn irfft_refuses_parts_of_different_shapes_and_dtypes() {
    let mut draws = Draws::new(13);
    let re = f32s(&mut draws, [3, 5]);
    assert_refused(
        irfft(re.clone(), f32s(&mut draws, [3, 4]), 8),
        &["irfft: im", "[3, 5]", "[3, 4]"],
    );
    let im = draws.normal::<B, 2>([3, 5], DType::F64);
    assert_refused(irfft(re, im, 8), &["irfft", "`im`", "F64"]);
}

#[test]
fn vandermonde_refuses_mismatched_parts_and_dtypes() {
    let mut draws = Draws::new(14);
    let w = complex(&mut draws, [3, 4]);
    let coef = complex(&mut draws, [2, 3, 4]);
    let wrong = complex(&mut draws, [2, 3, 5]);
    assert_refused(
        vandermonde(&w, &wrong, 8),
        &["vandermonde: coef.re", "[2, 3, 4]", "[2, 3, 5]"],
    );
    let mixed = ComplexTensor::new(coef.re.clone(), coef.im.clone().cast(DType::F64));
    assert_refused(
        vandermonde(&w, &mixed, 8),
        &["vandermonde", "`coef.im`", "F64"],
    );
}

#[test]
fn diagonal_kernel_refuses_mismatched_parts_and_dtypes() {
    let mut draws = Draws::new(15);
    let dt = f32s(&mut draws, [3]);
    let (a, b) = (complex(&mut draws, [3, 4]), complex(&mut draws, [3, 4]));
    let c = complex(&mut draws, [1, 3, 4]);
    let wrong_c = complex(&mut draws, [1, 2, 4]);
    assert_refused(
        diagonal_kernel(&dt, &a, &b, &wrong_c, Discretization::Zoh, 8),
        &["diagonal_kernel: C.re", "[1, 3, 4]", "[1, 2, 4]"],
    );
    let mixed = ComplexTensor::new(b.re.clone(), b.im.clone().cast(DType::F64));
    assert_refused(
        diagonal_kernel(&dt, &a, &mixed, &c, Discretization::Zoh, 8),
        &["diagonal_kernel", "`B.im`", "F64"],
    );
}

#[test]
fn cauchy_refuses_mismatched_poles_and_dtypes() {
    let mut draws = Draws::new(16);
    let nodes = [Complex64::new(0.0, 1.0), Complex64::new(0.0, -1.0)];
    let v = complex(&mut draws, [3, 2, 4]);
    let z = complex(&mut draws, [3, 4]);
    let wrong_z = complex(&mut draws, [3, 5]);
    assert_refused(
        cauchy(&v, &wrong_z, &nodes),
        &["cauchy: z.re", "[3, 4]", "[3, 5]"],
    );
    let mixed = ComplexTensor::new(z.re.clone(), z.im.clone().cast(DType::F64));
    assert_refused(cauchy(&v, &mixed, &nodes), &["cauchy", "`z.im`", "F64"]);
}

#[test]
fn dplr_spectrum_refuses_a_mismatched_rank() {
    let mut draws = Draws::new(17);
    let dt = f32s(&mut draws, [3]);
    let (lambda, b) = (complex(&mut draws, [3, 4]), complex(&mut draws, [3, 4]));
    let p = complex(&mut draws, [1, 3, 5]);
    let c = complex(&mut draws, [1, 3, 4]);
    let nodes = [Complex64::new(0.0, 1.0)];
    assert_refused(
        dplr_spectrum(&dt, &lambda, &b, &p, &c, &nodes),
        &["dplr_spectrum: P (rank, H, N)", "[1, 3, 4]", "[1, 3, 5]"],
    );
}

/// The tensors of a small selective scan: (batch, D, L, N, G).
struct ScanInputs {
    u: Tensor<B, 3>,
    delta: Tensor<B, 3>,
    a: Tensor<B, 2>,
    b: Tensor<B, 4>,
    c: Tensor<B, 4>,
    d: Tensor<B, 1>,
    z: Tensor<B, 3>,
    bias: Tensor<B, 1>,
    init: Tensor<B, 3>,
}

impl ScanInputs {
    fn draw(draws: &mut Draws, [batch, dim, len, n, groups]: [usize; 5]) -> Self {
        let a_values = draws.uniform_values(dim * n, -2.0, -0.5);
        Self {
            u: f32s(draws, [batch, dim, len]),
            delta: draws
                .normal::<B, 3>([batch, dim, len], DType::F32)
                .mul_scalar(0.5),
            a: Tensor::from_data(
                TensorData::new(a_values, [dim, n]),
                (&Default::default(), DType::F32),
            ),
            b: f32s(draws, [batch, groups, n, len]),
            c: f32s(draws, [batch, groups, n, len]),
            d: f32s(draws, [dim]),
            z: f32s(draws, [batch, dim, len]),
            bias: f32s(draws, [dim]),
            init: f32s(draws, [batch, dim, n]),
        }
    }

    /// Every input; the activations (u, δ, B, C, z) as `activations`, the
    /// parameters (A, D, δ_bias, initial state) as `params`.
    fn scan(&self, activations: DType, params: DType) -> SelectiveScan<B> {
        let (act, par) = (|t: &Tensor<B, 3>| t.clone().cast(activations), params);
        SelectiveScan {
            d: Some(self.d.clone().cast(par)),
            z: Some(act(&self.z)),
            delta_bias: Some(self.bias.clone().cast(par)),
            delta_softplus: true,
            initial_state: Some(self.init.clone().cast(par)),
            ..SelectiveScan::new(
                act(&self.u),
                act(&self.delta),
                self.a.clone().cast(par),
                self.b.clone().cast(activations),
                self.c.clone().cast(activations),
            )
        }
    }
}

#[test]
fn selective_scan_refuses_wrong_shapes_and_mixed_dtypes() {
    let inputs = ScanInputs::draw(&mut Draws::new(18), [2, 4, 6, 3, 2]);
    let mut scan = inputs.scan(DType::F32, DType::F32);
    scan.delta = scan.delta.narrow(2, 0, 5);
    assert_refused(
        selective_scan(scan),
        &["selective_scan: delta", "[2, 4, 6]", "[2, 4, 5]"],
    );
    let mut scan = inputs.scan(DType::F32, DType::F32);
    scan.d = Some(inputs.d.clone().narrow(0, 0, 3));
    assert_refused(selective_scan(scan), &["selective_scan: D", "[4]", "[3]"]);
    let mut scan = inputs.scan(DType::F32, DType::F32);
    scan.initial_state = Some(inputs.init.clone().narrow(2, 0, 2));
    assert_refused(selective_scan(scan), &["selective_scan: initial_state"]);
    // Activations of one dtype, parameters of one dtype.
    let mut scan = inputs.scan(DType::F32, DType::F32);
    scan.delta = scan.delta.cast(DType::F64);
    assert_refused(selective_scan(scan), &["selective_scan", "`delta`", "F64"]);
    let mut scan = inputs.scan(DType::F32, DType::F32);
    scan.d = scan.d.map(|d| d.cast(DType::BF16));
    assert_refused(selective_scan(scan), &["selective_scan", "`D`", "BF16"]);
}

/// The output and last state of a scan as f64 values.
fn scan_values(scan: SelectiveScan<B>) -> [Vec<f64>; 2] {
    let (out, last) = selective_scan(scan).unwrap();
    [
        HostTensor::from_tensor(&out).data,
        HostTensor::from_tensor(&last).data,
    ]
}

#[test]
fn bf16_selective_scan_on_the_cpu_matches_f32() {
    let inputs = ScanInputs::draw(&mut Draws::new(19), [2, 8, 40, 8, 2]);
    // The f32 reference sees the values the bf16 inputs hold.
    let rounded = ScanInputs {
        u: inputs.u.clone().cast(DType::BF16).cast(DType::F32),
        delta: inputs.delta.clone().cast(DType::BF16).cast(DType::F32),
        b: inputs.b.clone().cast(DType::BF16).cast(DType::F32),
        c: inputs.c.clone().cast(DType::BF16).cast(DType::F32),
        z: inputs.z.clone().cast(DType::BF16).cast(DType::F32),
        ..inputs
    };
    let reference = scan_values(rounded.scan(DType::F32, DType::F32));
    // bf16 activations with f32 parameters (mamba_ssm's mixed precision).
    let (out, last) = selective_scan(rounded.scan(DType::BF16, DType::F32)).unwrap();
    assert_eq!((out.dtype(), last.dtype()), (DType::BF16, DType::F32));
    let mixed = [
        HostTensor::from_tensor(&out).data,
        HostTensor::from_tensor(&last).data,
    ];
    // Everything in bf16: the parameters rounded too.
    let all_bf16 = scan_values(rounded.scan(DType::BF16, DType::BF16));
    for (name, ours, tol) in [("mixed", &mixed, 1e-2), ("bf16", &all_bf16, 3e-2)] {
        for (part, (got, want)) in ["out", "last state"]
            .iter()
            .zip(ours.iter().zip(&reference))
        {
            let err = rel_err(got, want);
            assert!(err < tol, "{name} {part}: {err:.2e}");
        }
    }
}

#[test]
fn bf16_selective_scan_gradients_on_the_cpu_match_f32() {
    let mut draws = Draws::new(20);
    let (batch, dim, len, n) = (1, 4, 24, 4);
    // bf16 values, so both runs see the same inputs.
    let bf16 = |t: TensorData| t.convert_dtype(DType::BF16);
    let u = bf16(
        draws
            .normal::<B, 3>([batch, dim, len], DType::F32)
            .into_data(),
    );
    let delta = bf16(
        draws
            .uniform::<B, 3>([batch, dim, len], 0.01, 0.3)
            .into_data(),
    );
    let b = bf16(
        draws
            .normal::<B, 4>([batch, 1, n, len], DType::F32)
            .into_data(),
    );
    let a = draws
        .uniform::<Ad, 2>([dim, n], -2.0, -0.5)
        .cast(DType::F32);
    let grad_u = |dtype: DType| {
        let options = (&Default::default(), dtype);
        let u = Tensor::<Ad, 3>::from_data(u.clone(), options).require_grad();
        let b = Tensor::<Ad, 4>::from_data(b.clone(), options);
        let delta = Tensor::<Ad, 3>::from_data(delta.clone(), options);
        let scan = SelectiveScan::new(u.clone(), delta, a.clone(), b.clone(), b);
        let (out, _) = selective_scan(scan).unwrap();
        let grads = out.cast(DType::F32).sum().backward();
        let g = u.grad(&grads).expect("tracked");
        assert_eq!(g.dtype(), dtype);
        HostTensor::from_tensor(&g).data
    };
    let err = rel_err(&grad_u(DType::BF16), &grad_u(DType::F32));
    assert!(err < 1e-2, "∂u: {err:.2e}");
}

/// The tensors of a small SSD problem (batch, L, H, P, G, N).
fn ssd_inputs(draws: &mut Draws, [batch, len, heads, p, groups, n]: [usize; 6]) -> Ssd<B> {
    let a_values = draws.uniform_values(batch * len * heads, -0.5, -0.01);
    Ssd {
        x: f32s(draws, [batch, len, heads, p]),
        a: Tensor::from_data(
            TensorData::new(a_values, [batch, len, heads]),
            (&Default::default(), DType::F32),
        ),
        b: f32s(draws, [batch, len, groups, n]),
        c: f32s(draws, [batch, len, groups, n]),
        chunk_size: 8,
        initial_state: Some(f32s(draws, [batch, heads, p, n])),
        starts: None,
    }
}

#[test]
fn ssd_refuses_wrong_shapes_and_mixed_dtypes() {
    let mut draws = Draws::new(21);
    let inputs = ssd_inputs(&mut draws, [2, 10, 4, 3, 2, 5]);
    let wrong_c = Ssd {
        c: f32s(&mut draws, [2, 10, 2, 4]),
        ..inputs.clone()
    };
    assert_refused(
        ssd(wrong_c.clone()),
        &["ssd: C", "[2, 10, 2, 5]", "[2, 10, 2, 4]"],
    );
    assert_refused(ssd_chunked(wrong_c), &["ssd: C"]);
    let wrong_state = Ssd {
        initial_state: Some(f32s(&mut draws, [2, 4, 3, 4])),
        ..inputs.clone()
    };
    assert_refused(ssd(wrong_state), &["ssd: initial_state", "[2, 4, 3, 5]"]);
    let mixed = Ssd {
        a: inputs.a.clone().cast(DType::F64),
        ..inputs.clone()
    };
    assert_refused(ssd(mixed.clone()), &["ssd", "`a`", "F64"]);
    assert_refused(ssd_chunked(mixed), &["ssd", "`a`", "F64"]);
}

#[test]
fn bf16_ssd_on_the_cpu_matches_f32() {
    let inputs = ssd_inputs(&mut Draws::new(22), [2, 37, 4, 8, 2, 16]);
    let bf16 = |t: Tensor<B, 4>| t.cast(DType::BF16);
    let half = Ssd {
        x: bf16(inputs.x.clone()),
        a: inputs.a.clone().cast(DType::BF16),
        b: bf16(inputs.b.clone()),
        c: bf16(inputs.c.clone()),
        initial_state: inputs.initial_state.clone().map(bf16),
        ..inputs.clone()
    };
    // The f32 reference sees the values the bf16 inputs hold.
    let widen = |t: Tensor<B, 4>| t.cast(DType::F32);
    let rounded = Ssd {
        x: widen(half.x.clone()),
        a: half.a.clone().cast(DType::F32),
        b: widen(half.b.clone()),
        c: widen(half.c.clone()),
        initial_state: half.initial_state.clone().map(widen),
        ..inputs
    };
    let (y, last) = ssd(half).unwrap();
    assert_eq!((y.dtype(), last.dtype()), (DType::BF16, DType::BF16));
    let (y32, last32) = ssd(rounded).unwrap();
    for (part, got, want) in [("y", &y, &y32), ("final state", &last, &last32)] {
        let err = rel_err(
            &HostTensor::from_tensor(got).data,
            &HostTensor::from_tensor(want).data,
        );
        assert!(err < 1e-2, "{part}: {err:.2e}");
    }
}

#[test]
fn half_precision_spectral_and_kernel_ops_on_the_cpu_match_f32() {
    let mut draws = Draws::new(23);
    // Inputs representable in f16, so both runs see the same values.
    let round = |t: Tensor<B, 3>| t.cast(DType::F16).cast(DType::F32);
    let close = |what: &str, half: Tensor<B, 3>, full: Tensor<B, 3>, tol: f64| {
        assert_eq!(half.dtype(), DType::F16, "{what}");
        let err = rel_err(
            &HostTensor::from_tensor(&half).data,
            &HostTensor::from_tensor(&full).data,
        );
        assert!(err < tol, "{what}: {err:.2e}");
    };
    let f16 = |t: &Tensor<B, 3>| t.clone().cast(DType::F16);
    let u = round(f32s(&mut draws, [2, 16, 3]));
    let k = round(f32s(&mut draws, [2, 3, 16]));
    let d = f32s(&mut draws, [1, 2, 3])
        .cast(DType::F16)
        .cast(DType::F32);
    let d2 = |t: &Tensor<B, 3>| t.clone().reshape([2, 3]);
    let conv = causal_conv(f16(&u), f16(&k), d2(&f16(&d))).unwrap();
    close(
        "causal_conv",
        conv,
        causal_conv(u.clone(), k.clone(), d2(&d)).unwrap(),
        1e-2,
    );
    let (re, im) = rfft(f16(&u), 20).unwrap();
    let (re32, im32) = rfft(u.clone(), 20).unwrap();
    close("rfft re", re.clone(), re32.clone(), 1e-2);
    close("rfft im", im.clone(), im32.clone(), 1e-2);
    close(
        "irfft",
        irfft(re, im, 20).unwrap(),
        irfft(re32, im32, 20).unwrap(),
        1e-2,
    );
    let w = ComplexTensor::new(
        draws
            .uniform::<B, 2>([3, 4], -0.3, -0.05)
            .cast(DType::F16)
            .cast(DType::F32),
        draws
            .uniform::<B, 2>([3, 4], -1.0, 1.0)
            .cast(DType::F16)
            .cast(DType::F32),
    );
    let coef = ComplexTensor::new(
        round(f32s(&mut draws, [2, 3, 4])),
        k.clone().narrow(2, 0, 4),
    );
    let w16 = w.map(|t| t.cast(DType::F16));
    let coef16 = coef.map(|t| t.cast(DType::F16));
    let vdm = vandermonde(&w16, &coef16, 12).unwrap();
    close(
        "vandermonde",
        vdm,
        vandermonde(&w, &coef, 12).unwrap(),
        1e-2,
    );
    let dt = draws
        .uniform::<B, 1>([3], 0.01, 0.1)
        .cast(DType::F16)
        .cast(DType::F32);
    let b = ComplexTensor::new(w.im.clone(), w.re.clone());
    let b16 = b.map(|t| t.cast(DType::F16));
    let kernel = diagonal_kernel(
        &dt.clone().cast(DType::F16),
        &w16,
        &b16,
        &coef16,
        Discretization::Zoh,
        12,
    );
    let kernel32 = diagonal_kernel(&dt, &w, &b, &coef, Discretization::Zoh, 12).unwrap();
    close("diagonal_kernel", kernel.unwrap(), kernel32, 1e-2);
    let nodes = [Complex64::new(0.0, 0.5), Complex64::new(0.0, -2.0)];
    let v = coef.map(|t| t.swap_dims(0, 1)); // (H, R, N)
    let y = cauchy(&v.map(|t| t.cast(DType::F16)), &w16, &nodes).unwrap();
    let y32 = cauchy(&v, &w, &nodes).unwrap();
    close("cauchy re", y.re, y32.re, 1e-2);
    close("cauchy im", y.im, y32.im, 1e-2);
}

/// The error type's variant for a mismatch is the one `statespace::Error`
/// documents for shapes (so callers can match on it).
#[test]
fn shape_errors_are_the_shape_variant() {
    let mut draws = Draws::new(24);
    let err = add_bias(f32s(&mut draws, [2, 3]), f32s(&mut draws, [2])).unwrap_err();
    assert!(
        matches!(&err, Error::Shape { tensor, expected, actual }
            if tensor == "add_bias: b (cols)" && expected == &[3] && actual == &[2]),
        "{err:?}"
    );
}

#[test]
fn rotary_refuses_odd_state_ungrouped_heads_and_long_angles() {
    let mut draws = Draws::new(6);
    // x (B 1, L 3, R 1, G 2, N 8), bias (H 4, R 1, N 8), θ (1, 3, 4, S ≤ 4).
    let x = f32s(&mut draws, [1, 3, 1, 2, 8]);
    let bias = f32s(&mut draws, [4, 1, 8]);
    let theta = f32s(&mut draws, [1, 3, 4, 2]);
    let pairs = RotaryPairs::Adjacent;
    let odd = f32s(&mut draws, [1, 3, 1, 2, 7]);
    let result = rotary(odd, f32s(&mut draws, [4, 1, 7]), theta.clone(), pairs);
    assert_refused(result, &["rotary: x", "N even"]);
    let result = rotary(x.clone(), f32s(&mut draws, [3, 1, 8]), theta.clone(), pairs);
    assert_refused(result, &["rotary: bias", "multiple"]);
    let result = rotary(
        x.clone(),
        bias.clone(),
        f32s(&mut draws, [1, 3, 4, 5]),
        pairs,
    );
    assert_refused(result, &["rotary: theta", "[1, 3, 4, 4]", "[1, 3, 4, 5]"]);
    let result = rotary(x.clone(), f32s(&mut draws, [4, 2, 8]), theta.clone(), pairs);
    assert_refused(result, &["rotary: bias", "[4, 1, 8]", "[4, 2, 8]"]);
    let result = rotary(x, bias.cast(DType::F64), theta, pairs);
    assert_refused(result, &["rotary", "`bias`", "F64"]);
}
