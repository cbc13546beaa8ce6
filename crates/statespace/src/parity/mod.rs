//! Op parity: a backend's extension ops (forward and autodiff backward)
//! against the CPU implementation, on random inputs of shapes chosen to hit
//! the edges of the GPU kernels (odd lengths, L = 1, grouped B/C, small and
//! large state sizes, every optional input, bf16 activations).
//!
//! The CPU reference gets the same values the device gets (bf16 inputs are
//! rounded first) and computes in f32; errors are norm-relative, as in
//! [`crate::golden`].

use burn::backend::Autodiff;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, Int, Tensor, TensorData, TensorPrimitive};
use burn_flex::Flex;
use num_complex::Complex64;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, Normal, Uniform};

use crate::complex::ComplexTensor;
use crate::discretize::Discretization;
use crate::error::Result;
use crate::golden::Check;
use crate::io::HostTensor;
use crate::kernel::dplr::cauchy_nodes;
use crate::ops::{
    AdamWOps, AdamWScalars, NormKind, SelectiveScan, SelectiveScanOps, SsmBackend, add_bias,
    cauchy, causal_conv, causal_conv1d, diagonal_kernel, embedding, gelu, irfft, matmul,
    mean_cross_entropy, norm, rfft, selective_scan, vandermonde,
};

mod ssd;

pub use ssd::{SsdCase, ssd_cases, ssd_checks};

/// Tolerance of f32 ops against the CPU.
pub const TOLERANCE_F32: f64 = 1e-5;
/// Tolerance of bf16-stored results (8 significant bits) against the CPU.
pub const TOLERANCE_BF16: f64 = 1e-2;

/// One selective-scan parity case.
#[derive(Debug, Clone)]
pub struct ScanCase {
    /// Batch rows.
    pub batch: usize,
    /// Channels D.
    pub dim: usize,
    /// Groups sharing B and C.
    pub groups: usize,
    /// State size N.
    pub n: usize,
    /// Sequence length L.
    pub len: usize,
    /// D, z, δ_bias, softplus and an initial state all present (else none).
    pub full: bool,
    /// Storage type of u, δ, B, C, z on the device (parameters stay f32).
    pub dtype: DType,
    /// u, δ and z passed as transposed views of (B, L, D) tensors (as
    /// Mamba's layers pass them), not as (B, D, L) tensors.
    pub time_major: bool,
}

/// The shapes every GPU backend must match the CPU on.
pub fn scan_cases() -> Vec<ScanCase> {
    let case = |batch, dim, groups, n, len, full, dtype| ScanCase {
        batch,
        dim,
        groups,
        n,
        len,
        full,
        dtype,
        time_major: false,
    };
    let time_major = |case: ScanCase| ScanCase {
        time_major: true,
        ..case
    };
    vec![
        case(2, 8, 1, 16, 1, true, DType::F32),
        case(2, 12, 3, 16, 37, true, DType::F32),
        case(1, 16, 1, 4, 100, false, DType::F32),
        case(2, 6, 2, 64, 65, true, DType::F32),
        case(1, 3, 1, 16, 33, false, DType::F32),
        case(2, 32, 1, 16, 130, true, DType::BF16),
        // Several chunks of the GPU scan.
        case(1, 8, 1, 16, 1000, true, DType::F32),
        case(1, 16, 2, 8, 700, false, DType::F32),
        case(1, 16, 1, 16, 600, true, DType::BF16),
        case(1, 4, 1, 300, 9, true, DType::F32),
        // Long enough for the GPU scan to split the sequence in segments.
        case(1, 8, 1, 16, 5000, true, DType::F32),
        case(1, 16, 2, 8, 4500, false, DType::BF16),
        // Channel-fastest activations, as from Mamba's projections.
        time_major(case(2, 8, 1, 16, 300, true, DType::F32)),
        time_major(case(2, 16, 1, 16, 130, false, DType::BF16)),
    ]
}

/// Host values of one tensor, drawn once and sent to both backends.
struct Draw {
    data: Vec<f32>,
    shape: Vec<usize>,
}

impl Draw {
    fn new(rng: &mut ChaCha8Rng, shape: &[usize], sample: impl Fn(&mut ChaCha8Rng) -> f32) -> Self {
        let count = shape.iter().product();
        Self {
            data: (0..count).map(|_| sample(rng)).collect(),
            shape: shape.to_vec(),
        }
    }

    /// On `device` as `dtype`, as a gradient leaf.
    fn tensor<B: AutodiffBackend, const D: usize>(
        &self,
        device: &B::Device,
        dtype: DType,
    ) -> Tensor<B, D> {
        let t = Tensor::<B, D>::from_data(
            TensorData::new(self.data.clone(), self.shape.clone()),
            device,
        );
        let t = if dtype == DType::F32 {
            t
        } else {
            t.cast(dtype)
        };
        t.require_grad()
    }

    /// A (B, D, L) draw as the (B, L, D) tensor it is the transpose of.
    fn time_major(&self) -> Self {
        let [batch, dim, len] = [self.shape[0], self.shape[1], self.shape[2]];
        let mut data = vec![0.0; self.data.len()];
        for b in 0..batch {
            for d in 0..dim {
                for t in 0..len {
                    data[(b * len + t) * dim + d] = self.data[(b * dim + d) * len + t];
                }
            }
        }
        Self {
            data,
            shape: vec![batch, len, dim],
        }
    }

    /// The values as `dtype` stores them, back in f32 (what the device sees).
    fn rounded(&self, dtype: DType) -> Self {
        let data = match dtype {
            DType::BF16 => self
                .data
                .iter()
                .map(|&x| burn::tensor::bf16::from_f32(x).to_f32())
                .collect(),
            DType::F16 => self
                .data
                .iter()
                .map(|&x| burn::tensor::f16::from_f32(x).to_f32())
                .collect(),
            _ => self.data.clone(),
        };
        Self {
            data,
            shape: self.shape.clone(),
        }
    }
}

/// Every output and gradient of one scan, on the host, named.
type Results = Vec<(&'static str, Vec<f64>)>;

struct ScanDraws {
    u: Draw,
    delta: Draw,
    a: Draw,
    b: Draw,
    c: Draw,
    d: Draw,
    z: Draw,
    bias: Draw,
    init: Draw,
    grad_out: Draw,
    grad_last: Draw,
}

fn host<B: burn::tensor::backend::Backend, const D: usize>(t: &Tensor<B, D>) -> Vec<f64> {
    HostTensor::from_tensor(&t.clone().cast(DType::F32)).data
}

fn run_scan<B: AutodiffBackend + SelectiveScanOps>(
    case: &ScanCase,
    draws: &ScanDraws,
    act: DType,
    device: &B::Device,
) -> Result<Results> {
    // (the leaf, the (B, D, L) view the scan gets)
    let activation = |draw: &Draw| {
        if case.time_major {
            let leaf = draw.time_major().tensor::<B, 3>(device, act);
            (leaf.clone(), leaf.swap_dims(1, 2))
        } else {
            let leaf = draw.tensor::<B, 3>(device, act);
            (leaf.clone(), leaf)
        }
    };
    let (u, u_in) = activation(&draws.u);
    let (delta, delta_in) = activation(&draws.delta);
    let a = draws.a.tensor::<B, 2>(device, DType::F32);
    let b = draws.b.tensor::<B, 4>(device, act);
    let c = draws.c.tensor::<B, 4>(device, act);
    let d = draws.d.tensor::<B, 1>(device, DType::F32);
    let (z, z_in) = activation(&draws.z);
    let bias = draws.bias.tensor::<B, 1>(device, DType::F32);
    let init = draws.init.tensor::<B, 3>(device, DType::F32);
    let scan = SelectiveScan {
        d: case.full.then(|| d.clone()),
        z: case.full.then(|| z_in.clone()),
        delta_bias: case.full.then(|| bias.clone()),
        delta_softplus: case.full,
        initial_state: case.full.then(|| init.clone()),
        ..SelectiveScan::new(u_in, delta_in, a.clone(), b.clone(), c.clone())
    };
    let (out, last) = selective_scan(scan)?;
    let grad_out = draws.grad_out.tensor::<B, 3>(device, act).detach();
    let grad_last = draws.grad_last.tensor::<B, 3>(device, DType::F32).detach();
    let loss = (out.clone().cast(DType::F32) * grad_out.cast(DType::F32)).sum()
        + (last.clone() * grad_last).sum();
    let grads = loss.backward();
    let grad = |name: &'static str, g: Option<Vec<f64>>| (name, g.unwrap_or_default());
    let mut results = vec![
        ("out", host(&out)),
        ("last_state", host(&last)),
        grad("grad_u", u.grad(&grads).map(|g| host(&g))),
        grad("grad_delta", delta.grad(&grads).map(|g| host(&g))),
        grad("grad_A", a.grad(&grads).map(|g| host(&g))),
        grad("grad_B", b.grad(&grads).map(|g| host(&g))),
        grad("grad_C", c.grad(&grads).map(|g| host(&g))),
    ];
    if case.full {
        results.extend([
            grad("grad_D", d.grad(&grads).map(|g| host(&g))),
            grad("grad_z", z.grad(&grads).map(|g| host(&g))),
            grad("grad_delta_bias", bias.grad(&grads).map(|g| host(&g))),
            grad("grad_initial_state", init.grad(&grads).map(|g| host(&g))),
        ]);
    }
    Ok(results)
}

/// The selective scan on backend `B` against the CPU, for each case (see
/// [`scan_cases`]): one check per output and gradient.
pub fn selective_scan_checks<B: AutodiffBackend + SelectiveScanOps>(
    cases: &[ScanCase],
    device: &B::Device,
) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(index as u64);
        let normal = Normal::new(0.0f32, 1.0).expect("valid normal");
        let n01 = |r: &mut ChaCha8Rng| normal.sample(r);
        let small = Uniform::new(0.01f32, 0.2).expect("valid range");
        let (bt, dim, n, len, g) = (case.batch, case.dim, case.n, case.len, case.groups);
        let draws = ScanDraws {
            u: Draw::new(&mut rng, &[bt, dim, len], n01),
            delta: if case.full {
                Draw::new(&mut rng, &[bt, dim, len], |r| 0.5 * normal.sample(r) - 1.0)
            } else {
                Draw::new(&mut rng, &[bt, dim, len], |r| small.sample(r))
            },
            a: Draw::new(&mut rng, &[dim, n], |r| -(0.5 * normal.sample(r)).exp()),
            b: Draw::new(&mut rng, &[bt, g, n, len], n01),
            c: Draw::new(&mut rng, &[bt, g, n, len], n01),
            d: Draw::new(&mut rng, &[dim], n01),
            z: Draw::new(&mut rng, &[bt, dim, len], n01),
            bias: Draw::new(&mut rng, &[dim], |r| 0.1 * normal.sample(r)),
            init: Draw::new(&mut rng, &[bt, dim, n], n01),
            grad_out: Draw::new(&mut rng, &[bt, dim, len], n01),
            grad_last: Draw::new(&mut rng, &[bt, dim, n], n01),
        };
        let ours = run_scan::<B>(case, &draws, case.dtype, device)?;
        let rounded = ScanDraws {
            u: draws.u.rounded(case.dtype),
            delta: draws.delta.rounded(case.dtype),
            a: draws.a.rounded(DType::F32),
            b: draws.b.rounded(case.dtype),
            c: draws.c.rounded(case.dtype),
            d: draws.d.rounded(DType::F32),
            z: draws.z.rounded(case.dtype),
            bias: draws.bias.rounded(DType::F32),
            init: draws.init.rounded(DType::F32),
            grad_out: draws.grad_out.rounded(case.dtype),
            grad_last: draws.grad_last.rounded(DType::F32),
        };
        let reference =
            run_scan::<Autodiff<Flex>>(case, &rounded, DType::F32, &Default::default())?;
        let label = format!(
            "scan b{bt} d{dim} g{g} n{n} L{len}{}{} {:?}",
            if case.full { " full" } else { "" },
            if case.time_major { " time-major" } else { "" },
            case.dtype
        );
        compare_within(
            label,
            &ours,
            &reference,
            tolerance_for(case.dtype),
            &mut checks,
        );
    }
    Ok(checks)
}

/// A named reader of one input's gradient.
type GradOf<'a, B> = (
    &'static str,
    &'a dyn Fn(&<B as AutodiffBackend>::Gradients) -> Option<Vec<f64>>,
);

/// Every output and input gradient of `out` (a loss Σ out·g backs it).
fn outputs_and_grads<B: AutodiffBackend, const D: usize>(
    out: Tensor<B, D>,
    g: &Draw,
    inputs: &[GradOf<'_, B>],
    device: &B::Device,
) -> Results {
    let grads = (out.clone() * g.tensor::<B, D>(device, out.dtype()).detach())
        .sum()
        .backward();
    let mut results = vec![("out", host(&out))];
    for (name, grad) in inputs {
        results.push((name, grad(&grads).unwrap_or_default()));
    }
    results
}

fn run_conv<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 4],
    device: &B::Device,
) -> Result<Results> {
    let u = draws[0].tensor::<B, 3>(device, DType::F32);
    let k = draws[1].tensor::<B, 3>(device, DType::F32);
    let d = draws[2].tensor::<B, 2>(device, DType::F32);
    let out = causal_conv(u.clone(), k.clone(), d.clone())?;
    Ok(outputs_and_grads(
        out,
        &draws[3],
        &[
            ("grad_u", &|g| u.grad(g).map(|t| host(&t))),
            ("grad_k", &|g| k.grad(g).map(|t| host(&t))),
            ("grad_d", &|g| d.grad(g).map(|t| host(&t))),
        ],
        device,
    ))
}

fn run_vandermonde<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 5],
    len: usize,
    device: &B::Device,
) -> Result<Results> {
    let w = ComplexTensor::new(
        draws[0].tensor::<B, 2>(device, DType::F32),
        draws[1].tensor::<B, 2>(device, DType::F32),
    );
    let coef = ComplexTensor::new(
        draws[2].tensor::<B, 3>(device, DType::F32),
        draws[3].tensor::<B, 3>(device, DType::F32),
    );
    let out = vandermonde(&w, &coef, len)?;
    Ok(outputs_and_grads(
        out,
        &draws[4],
        &[
            ("grad_w_re", &|g| w.re.grad(g).map(|t| host(&t))),
            ("grad_w_im", &|g| w.im.grad(g).map(|t| host(&t))),
            ("grad_coef_re", &|g| coef.re.grad(g).map(|t| host(&t))),
            ("grad_coef_im", &|g| coef.im.grad(g).map(|t| host(&t))),
        ],
        device,
    ))
}

/// The fused diagonal kernel of Δ (H), A and B (H, N), C (C, H, N).
fn run_diagonal_kernel<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 8],
    rule: Discretization,
    len: usize,
    dtype: DType,
    device: &B::Device,
) -> Result<Results> {
    let dt = draws[0].tensor::<B, 1>(device, dtype);
    let complex2 = |i: usize| {
        ComplexTensor::new(
            draws[i].tensor::<B, 2>(device, dtype),
            draws[i + 1].tensor::<B, 2>(device, dtype),
        )
    };
    let (a, b) = (complex2(1), complex2(3));
    let c = ComplexTensor::new(
        draws[5].tensor::<B, 3>(device, dtype),
        draws[6].tensor::<B, 3>(device, dtype),
    );
    let out = diagonal_kernel(&dt, &a, &b, &c, rule, len)?;
    Ok(outputs_and_grads(
        out,
        &draws[7],
        &[
            ("grad_dt", &|g| dt.grad(g).map(|t| host(&t))),
            ("grad_a_re", &|g| a.re.grad(g).map(|t| host(&t))),
            ("grad_a_im", &|g| a.im.grad(g).map(|t| host(&t))),
            ("grad_b_re", &|g| b.re.grad(g).map(|t| host(&t))),
            ("grad_b_im", &|g| b.im.grad(g).map(|t| host(&t))),
            ("grad_c_re", &|g| c.re.grad(g).map(|t| host(&t))),
            ("grad_c_im", &|g| c.im.grad(g).map(|t| host(&t))),
        ],
        device,
    ))
}

/// The Cauchy product of v (H, R, N) over poles z (H, N) at S4's nodes
/// ±2i·tan(πk/L); output (H, R, 2·S) with real parts first.
fn run_cauchy<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 5],
    nodes: &[Complex64],
    device: &B::Device,
) -> Result<Results> {
    let v = ComplexTensor::new(
        draws[0].tensor::<B, 3>(device, DType::F32),
        draws[1].tensor::<B, 3>(device, DType::F32),
    );
    let z = ComplexTensor::new(
        draws[2].tensor::<B, 2>(device, DType::F32),
        draws[3].tensor::<B, 2>(device, DType::F32),
    );
    let y = cauchy(&v, &z, nodes)?;
    let out = Tensor::cat(vec![y.re, y.im], 2);
    Ok(outputs_and_grads(
        out,
        &draws[4],
        &[
            ("grad_v_re", &|g| v.re.grad(g).map(|t| host(&t))),
            ("grad_v_im", &|g| v.im.grad(g).map(|t| host(&t))),
            ("grad_z_re", &|g| z.re.grad(g).map(|t| host(&t))),
            ("grad_z_im", &|g| z.im.grad(g).map(|t| host(&t))),
        ],
        device,
    ))
}

/// GELU of x (any shape), scaled so its tails are reached.
fn run_gelu<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 2],
    device: &B::Device,
) -> Result<Results> {
    let x = draws[0].tensor::<B, 3>(device, DType::F32);
    let out = gelu(x.clone().mul_scalar(3.0))?;
    Ok(outputs_and_grads(
        out,
        &draws[1],
        &[("grad_x", &|g| x.grad(g).map(|t| host(&t)))],
        device,
    ))
}

fn run_matmul<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 3],
    device: &B::Device,
) -> Result<Results> {
    let a = draws[0].tensor::<B, 3>(device, DType::F32);
    let b = draws[1].tensor::<B, 3>(device, DType::F32);
    let out = matmul(a.clone(), b.clone())?;
    Ok(outputs_and_grads(
        out,
        &draws[2],
        &[
            ("grad_lhs", &|g| a.grad(g).map(|t| host(&t))),
            ("grad_rhs", &|g| b.grad(g).map(|t| host(&t))),
        ],
        device,
    ))
}

/// rfft of a signal and irfft of a spectrum, both of length `n`, in one
/// output row-wise: (rows, 2·(n/2 + 1) + n).
fn run_spectral<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 4],
    n: usize,
    device: &B::Device,
) -> Result<Results> {
    let x = draws[0].tensor::<B, 2>(device, DType::F32);
    let spec_re = draws[1].tensor::<B, 2>(device, DType::F32);
    let spec_im = draws[2].tensor::<B, 2>(device, DType::F32);
    let (re, im) = rfft(x.clone(), n)?;
    let y = irfft(spec_re.clone(), spec_im.clone(), n)?;
    // Each output compared on its own scale (the spectrum is ~n times the
    // signal's): one loss drives every gradient.
    let parts = [
        ("rfft_re", host(&re)),
        ("rfft_im", host(&im)),
        ("irfft", host(&y)),
    ];
    let out = Tensor::cat(vec![re, im, y], 1);
    let mut results = outputs_and_grads(
        out,
        &draws[3],
        &[
            ("grad_signal", &|g| x.grad(g).map(|t| host(&t))),
            ("grad_spectrum_re", &|g| spec_re.grad(g).map(|t| host(&t))),
            ("grad_spectrum_im", &|g| spec_im.grad(g).map(|t| host(&t))),
        ],
        device,
    );
    results.splice(0..1, parts);
    Ok(results)
}

/// The causal depthwise convolution of a strided view (x is a slice of a
/// wider tensor, as in Mamba-2) after a state, with and without SiLU.
fn run_causal_conv1d<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 5],
    silu: bool,
    device: &B::Device,
) -> Result<Results> {
    let wide = draws[0].tensor::<B, 3>(device, DType::F32);
    let dim = draws[3].shape[0];
    let x = wide.clone().narrow(2, 1, dim);
    let state = draws[1].tensor::<B, 3>(device, DType::F32);
    let weight = draws[2].tensor::<B, 3>(device, DType::F32);
    let bias = draws[3].tensor::<B, 1>(device, DType::F32);
    let (y, _) = causal_conv1d(
        x,
        weight.clone(),
        Some(bias.clone()),
        Some(state.clone()),
        silu,
    )?;
    Ok(outputs_and_grads(
        y,
        &draws[4],
        &[
            ("grad_x", &|g| wide.grad(g).map(|t| host(&t))),
            ("grad_state", &|g| state.grad(g).map(|t| host(&t))),
            ("grad_weight", &|g| weight.grad(g).map(|t| host(&t))),
            ("grad_bias", &|g| bias.grad(g).map(|t| host(&t))),
        ],
        device,
    ))
}

/// y + b on every row, and both gradients (∂b is a column sum).
fn run_add_bias<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 3],
    device: &B::Device,
) -> Result<Results> {
    let y = draws[0].tensor::<B, 2>(device, DType::F32);
    let b = draws[1].tensor::<B, 1>(device, DType::F32);
    let out = add_bias(y.clone(), b.clone())?;
    Ok(outputs_and_grads(
        out,
        &draws[2],
        &[
            ("grad_y", &|g| y.grad(g).map(|t| host(&t))),
            ("grad_bias", &|g| b.grad(g).map(|t| host(&t))),
        ],
        device,
    ))
}

/// The rows of a (V, D) table that `tokens` (B, L; repeated) name, and the
/// table's gradient: a scatter-add of ∂out.
fn run_embedding<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 2],
    tokens: &[i64],
    device: &B::Device,
) -> Result<Results> {
    let table = draws[0].tensor::<B, 2>(device, DType::F32);
    let (bt, len) = (draws[1].shape[0], draws[1].shape[1]);
    let tokens =
        Tensor::<B, 2, Int>::from_data(TensorData::new(tokens.to_vec(), [bt, len]), device);
    let out = embedding(table.clone(), tokens)?;
    Ok(outputs_and_grads(
        out,
        &draws[1],
        &[("grad_table", &|g| table.grad(g).map(|t| host(&t)))],
        device,
    ))
}

/// LayerNorm or RMSNorm of a strided view (x is a slice of a wider
/// tensor), and every gradient.
fn run_norm<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 4],
    kind: NormKind,
    device: &B::Device,
) -> Result<Results> {
    let wide = draws[0].tensor::<B, 3>(device, DType::F32);
    let dim = draws[1].shape[0];
    let x = wide.clone().narrow(2, 1, dim);
    let w = draws[1].tensor::<B, 1>(device, DType::F32);
    let b = draws[2].tensor::<B, 1>(device, DType::F32);
    let bias = (kind == NormKind::Layer).then(|| b.clone());
    let out = norm(x, w.clone(), bias, 1e-5, kind)?;
    let grad_x: GradOf<'_, B> = ("grad_x", &|g| wide.grad(g).map(|t| host(&t)));
    let grad_w: GradOf<'_, B> = ("grad_weight", &|g| w.grad(g).map(|t| host(&t)));
    let grad_b: GradOf<'_, B> = ("grad_bias", &|g| b.grad(g).map(|t| host(&t)));
    // RMSNorm has no bias, so no bias gradient to compare.
    let grads = match kind {
        NormKind::Layer => vec![grad_x, grad_w, grad_b],
        NormKind::Rms => vec![grad_x, grad_w],
    };
    Ok(outputs_and_grads(out, &draws[3], &grads, device))
}

/// The mean cross-entropy of (N, C) logits against `labels`, and the
/// logits' gradient (scaled up by N so it is not all below the tolerance's
/// floor).
fn run_cross_entropy<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 1],
    labels: &[i64],
    device: &B::Device,
) -> Result<Results> {
    let logits = draws[0].tensor::<B, 2>(device, DType::F32);
    let rows = labels.len();
    let labels = Tensor::<B, 1, Int>::from_data(TensorData::new(labels.to_vec(), [rows]), device);
    let loss = mean_cross_entropy(logits.clone(), labels)?.mul_scalar(rows as f64);
    let grads = loss.clone().backward();
    Ok(vec![
        ("loss", host(&loss)),
        (
            "grad_logits",
            logits.grad(&grads).map(|t| host(&t)).unwrap_or_default(),
        ),
    ])
}

/// One AdamW step (param′, m′, v′) on the inner backend of `B`, where the
/// optimiser runs, from flat draws of param, grad, m and v.
fn run_adamw<B: AutodiffBackend>(draws: &[Draw; 4], device: &B::Device) -> Results
where
    B::InnerBackend: AdamWOps,
{
    let flat = |d: &Draw| {
        Tensor::<B::InnerBackend, 1>::from_data(
            TensorData::new(d.data.clone(), d.shape.clone()),
            device,
        )
        .into_primitive()
        .tensor()
    };
    let scalars = AdamWScalars {
        lr: 0.003,
        weight_decay: 0.05,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        step: 3,
        grad_scale: 0.7,
    };
    let (param, m, v) = B::InnerBackend::adamw_update(
        flat(&draws[0]),
        flat(&draws[1]),
        flat(&draws[2]),
        flat(&draws[3]),
        &scalars,
    );
    let host = |t| {
        host(&Tensor::<B::InnerBackend, 1>::from_primitive(
            TensorPrimitive::Float(t),
        ))
    };
    vec![("param", host(param)), ("m", host(m)), ("v", host(v))]
}

/// Σ x² over several flat draws, on the inner backend of `B`.
fn run_sum_of_squares<B: AutodiffBackend>(draws: &[Draw], device: &B::Device) -> Results
where
    B::InnerBackend: AdamWOps,
{
    let tensors = draws
        .iter()
        .map(|d| {
            Tensor::<B::InnerBackend, 1>::from_data(
                TensorData::new(d.data.clone(), d.shape.clone()),
                device,
            )
            .into_primitive()
            .tensor()
        })
        .collect();
    let total = B::InnerBackend::sum_of_squares(tensors, device);
    vec![(
        "sum",
        host(&Tensor::<B::InnerBackend, 1>::from_primitive(
            TensorPrimitive::Float(total),
        )),
    )]
}

fn compare(label: String, ours: &Results, reference: &Results, checks: &mut Vec<Check>) {
    compare_within(label, ours, reference, TOLERANCE_F32, checks);
}

/// One check per named result, each within `tolerance`.
fn compare_within(
    label: String,
    ours: &Results,
    reference: &Results,
    tolerance: f64,
    checks: &mut Vec<Check>,
) {
    for ((name, actual), (_, expected)) in ours.iter().zip(reference) {
        checks.push(Check::new(
            format!("{label}: {name}"),
            actual,
            expected,
            tolerance,
        ));
    }
}

/// The tolerance of results stored as `dtype`: [`TOLERANCE_F32`] for f32,
/// [`TOLERANCE_BF16`] for the 16-bit types.
fn tolerance_for(dtype: DType) -> f64 {
    if dtype == DType::F32 {
        TOLERANCE_F32
    } else {
        TOLERANCE_BF16
    }
}

/// Checks of f32 results against the CPU in f64 where f32 itself limits the
/// accuracy, each within a fixed `ceiling` chosen per case from the CPU's
/// own f32 error on it (measured: ≤ 1.1e-5 for a ZOH S4D kernel at L 1000,
/// ≤ 6.2e-5 bilinear, where the high modes barely decay and rounding log Ā
/// to f32 alone moves the kernel by ≈ 5·10⁻⁵ on any f32 implementation);
/// `cpu_ops_match_themselves` holds the CPU's f32 to the same ceilings.
fn compare_conditioned(
    label: String,
    ours: &Results,
    cpu_f64: &Results,
    ceiling: f64,
    checks: &mut Vec<Check>,
) {
    for ((name, actual), (_, expected)) in ours.iter().zip(cpu_f64) {
        checks.push(Check::new(
            format!("{label}: {name} vs f64"),
            actual,
            expected,
            ceiling,
        ));
    }
}

/// The FFT convolution, the real FFTs, the Vandermonde product and the
/// full-precision matmul on backend `B` against the CPU, in f32, at odd lengths, L = 1
/// and degenerate matrix shapes: one check per output and gradient.
pub fn op_checks<B: AutodiffBackend + SsmBackend>(device: &B::Device) -> Result<Vec<Check>>
where
    B::InnerBackend: AdamWOps,
{
    let cpu = Default::default();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let mut rng_tokens = ChaCha8Rng::seed_from_u64(11);
    let normal = Normal::new(0.0f32, 1.0).expect("valid normal");
    let mut draw = |shape: &[usize]| Draw::new(&mut rng, shape, |r| normal.sample(r));
    let mut checks = Vec::new();
    // (batch, L, H, channels, Lk)
    let conv_shapes = [
        (2, 1, 3, 1, 1),
        (2, 37, 4, 2, 37),
        (1, 64, 3, 1, 20),
        (2, 300, 5, 2, 300),
    ];
    for (bt, len, h, c, k_len) in conv_shapes {
        let draws = [
            draw(&[bt, len, h]),
            draw(&[c, h, k_len]),
            draw(&[c, h]),
            draw(&[bt, len, c * h]),
        ];
        compare(
            format!("fftconv b{bt} L{len} H{h} C{c} Lk{k_len}"),
            &run_conv::<B>(&draws, device)?,
            &run_conv::<Autodiff<Flex>>(&draws, &cpu)?,
            &mut checks,
        );
    }
    // (H, N, C, L): the last an S4D-Lin layer (ΔA = Δ·(−½ + iπn), Δ up to
    // 0.1), whose phases reach 10⁴ radians over the kernel.
    for (h, n, c, len) in [
        (3, 4, 2, 1),
        (4, 8, 1, 33),
        (2, 16, 1, 64),
        (16, 32, 2, 1000),
    ] {
        let s4d_lin = len == 1000;
        let mut w_re = draw(&[h, n]);
        w_re.data
            .iter_mut()
            .for_each(|x| *x = -0.1 * x.abs() - 0.01);
        let mut w_im = draw(&[h, n]);
        w_im.data.iter_mut().for_each(|x| *x *= 0.5);
        if s4d_lin {
            for hi in 0..h {
                let dt = 0.001 * 100f32.powf(hi as f32 / (h - 1) as f32);
                for m in 0..n {
                    w_re.data[hi * n + m] = -0.5 * dt;
                    w_im.data[hi * n + m] = std::f32::consts::PI * m as f32 * dt;
                }
            }
        }
        let draws = [
            w_re,
            w_im,
            draw(&[c, h, n]),
            draw(&[c, h, n]),
            draw(&[c, h, len]),
        ];
        compare(
            format!("vandermonde H{h} N{n} C{c} L{len}"),
            &run_vandermonde::<B>(&draws, len, device)?,
            &run_vandermonde::<Autodiff<Flex>>(&draws, len, &cpu)?,
            &mut checks,
        );
    }
    // (H, N, C, L) of the fused diagonal kernel, S4D-shaped: Δ log-uniform
    // in [0.001, 0.1], A = −½·e^{noise} + iπn.
    for rule in [Discretization::Zoh, Discretization::Bilinear] {
        for (h, n, c, len) in [(3, 4, 2, 1), (5, 7, 1, 33), (16, 32, 2, 1000)] {
            let mut dt = draw(&[h]);
            dt.data
                .iter_mut()
                .for_each(|x| *x = 0.001 * 100f32.powf(x.abs().min(1.0)));
            let mut a_re = draw(&[h, n]);
            a_re.data
                .iter_mut()
                .for_each(|x| *x = -0.5 * (0.1 * *x).exp());
            let mut a_im = draw(&[h, n]);
            a_im.data
                .iter_mut()
                .enumerate()
                .for_each(|(i, x)| *x = std::f32::consts::PI * (i % n) as f32 + 0.1 * *x);
            let draws = [
                dt,
                a_re,
                a_im,
                draw(&[h, n]),
                draw(&[h, n]),
                draw(&[c, h, n]),
                draw(&[c, h, n]),
                draw(&[c, h, len]),
            ];
            let ceiling = match (len, rule) {
                (..=100, _) => TOLERANCE_F32,
                (_, Discretization::Zoh) => 3e-5,
                (_, Discretization::Bilinear) => 2e-4,
            };
            compare_conditioned(
                format!("diagonal kernel {rule} H{h} N{n} C{c} L{len}"),
                &run_diagonal_kernel::<B>(&draws, rule, len, DType::F32, device)?,
                &run_diagonal_kernel::<Autodiff<Flex>>(&draws, rule, len, DType::F64, &cpu)?,
                ceiling,
                &mut checks,
            );
        }
    }
    // (H, R, N, L) of the Cauchy product at the nodes of an S4 kernel of
    // length L (⌈L/2⌉ tangents at ±), poles ΔΛ of S4D-Lin shape.
    for (h, r, n, len) in [(3, 2, 4, 1), (4, 4, 7, 33), (16, 6, 32, 1000)] {
        let nodes = cauchy_nodes(len);
        let mut z_re = draw(&[h, n]);
        z_re.data
            .iter_mut()
            .for_each(|x| *x = -0.05 * (0.1 * *x).exp());
        let mut z_im = draw(&[h, n]);
        z_im.data
            .iter_mut()
            .enumerate()
            .for_each(|(i, x)| *x = 0.1 * std::f32::consts::PI * (i % n) as f32 + 0.01 * *x);
        let draws = [
            draw(&[h, r, n]),
            draw(&[h, r, n]),
            z_re,
            z_im,
            draw(&[h, r, 2 * nodes.len()]),
        ];
        compare(
            format!("cauchy H{h} R{r} N{n} L{len}"),
            &run_cauchy::<B>(&draws, &nodes, device)?,
            &run_cauchy::<Autodiff<Flex>>(&draws, &nodes, &cpu)?,
            &mut checks,
        );
    }
    for shape in [[1, 1, 1], [2, 37, 5], [64, 33, 128]] {
        let draws = [draw(&shape), draw(&shape)];
        compare(
            format!("gelu {shape:?}"),
            &run_gelu::<B>(&draws, device)?,
            &run_gelu::<Autodiff<Flex>>(&draws, &cpu)?,
            &mut checks,
        );
    }
    // (signal length, spectrum bins, n): odd, even and power-of-two n,
    // signals and spectra shorter and longer than the transform.
    let spectral_shapes = [
        (7, 4, 7),
        (10, 6, 12),
        (40, 30, 30),
        (16, 9, 16),
        (5, 3, 1),
        (1000, 600, 1024),
        (3000, 1600, 3000),
    ];
    for (m, bins, n) in spectral_shapes {
        let rows = 2;
        let draws = [
            draw(&[rows, m]),
            draw(&[rows, bins]),
            draw(&[rows, bins]),
            draw(&[rows, 2 * (n / 2 + 1) + n]),
        ];
        compare(
            format!("rfft/irfft m{m} bins{bins} n{n}"),
            &run_spectral::<B>(&draws, n, device)?,
            &run_spectral::<Autodiff<Flex>>(&draws, n, &cpu)?,
            &mut checks,
        );
    }
    // (lhs batch, rhs batch, M, K, N): a batch of 1 broadcasts.
    let matmul_shapes = [
        (2, 2, 5, 1, 7),
        (3, 3, 4, 6, 1),
        (1, 1, 1, 9, 3),
        (2, 2, 33, 17, 65),
        (3, 1, 40, 70, 90),
        (1, 4, 8, 5, 6),
        // 2³⁰ multiply-adds in each product: large enough for cuBLAS on CUDA.
        (2, 1, 512, 1024, 1024),
    ];
    for (ga, gb, m, k, n) in matmul_shapes {
        let g = ga.max(gb);
        let draws = [draw(&[ga, m, k]), draw(&[gb, k, n]), draw(&[g, m, n])];
        compare(
            format!("matmul ({ga}×{m}×{k})·({gb}×{k}×{n})"),
            &run_matmul::<B>(&draws, device)?,
            &run_matmul::<Autodiff<Flex>>(&draws, &cpu)?,
            &mut checks,
        );
    }
    // (rows, cols): prime and composite row counts, one a block-sum shape.
    for (rows, cols) in [(1, 5), (97, 3), (4096, 70)] {
        let draws = [draw(&[rows, cols]), draw(&[cols]), draw(&[rows, cols])];
        compare(
            format!("add bias {rows}×{cols}"),
            &run_add_bias::<B>(&draws, device)?,
            &run_add_bias::<Autodiff<Flex>>(&draws, &cpu)?,
            &mut checks,
        );
    }
    // (batch, L, D, K): L below K − 1, more channels than one cube's 32,
    // enough rows for several row blocks.
    for (bt, len, dim, k) in [
        (2, 1, 3, 4),
        (2, 37, 5, 4),
        (1, 300, 70, 4),
        (3, 513, 40, 2),
        (3, 513, 40, 4),
        (1, 37, 5, 2),
        (3, 37, 5, 2),
        (1, 513, 40, 2),
        (2, 37, 5, 3),
    ] {
        for silu in [false, true] {
            let draws = [
                draw(&[bt, len, dim + 3]),
                draw(&[bt, dim, k - 1]),
                draw(&[dim, 1, k]),
                draw(&[dim]),
                draw(&[bt, len, dim]),
            ];
            compare(
                format!(
                    "causal conv1d b{bt} L{len} D{dim} K{k}{}",
                    if silu { " silu" } else { "" }
                ),
                &run_causal_conv1d::<B>(&draws, silu, device)?,
                &run_causal_conv1d::<Autodiff<Flex>>(&draws, silu, &cpu)?,
                &mut checks,
            );
        }
    }
    // (V, D, batch, L): one token; few rows hit many times; a byte-level
    // table under an LRA-sized batch (every row hit ≈ 16 times).
    for (vocab, dim, bt, len) in [
        (5, 3, 1, 1),
        (7, 33, 2, 37),
        (300, 70, 3, 100),
        (256, 128, 4, 1024),
    ] {
        let tokens: Vec<i64> = (0..bt * len)
            .map(|_| rng_tokens.random_range(0..vocab as i64))
            .collect();
        let draws = [draw(&[vocab, dim]), draw(&[bt, len, dim])];
        compare(
            format!("embedding V{vocab} D{dim} b{bt} L{len}"),
            &run_embedding::<B>(&draws, &tokens, device)?,
            &run_embedding::<Autodiff<Flex>>(&draws, &tokens, &cpu)?,
            &mut checks,
        );
    }
    // (batch, L, d): one row; widths below, at and above one warp's 32
    // lanes; Mamba-130m's 768 over a batch of rows. Not below d = 3: at
    // d = 1 (RMSNorm) and d = 2 (LayerNorm) the normalised row can only
    // flip sign, so ∂x is ε-sized, r·ĝ·(1 − x̂²) = r³·ε·ĝ for RMSNorm at
    // d = 1, a cancellation that no f32 implementation, the CPU's included,
    // computes to 1e-5 (the GPU measured 1.4e-2 and 3.6e-3 against it).
    for (bt, len, dim) in [
        (1, 1, 3),
        (2, 37, 5),
        (3, 33, 32),
        (2, 100, 70),
        (2, 512, 768),
    ] {
        for kind in [NormKind::Rms, NormKind::Layer] {
            let draws = [
                draw(&[bt, len, dim + 3]),
                draw(&[dim]),
                draw(&[dim]),
                draw(&[bt, len, dim]),
            ];
            compare(
                format!("{kind:?} norm b{bt} L{len} d{dim}"),
                &run_norm::<B>(&draws, kind, device)?,
                &run_norm::<Autodiff<Flex>>(&draws, kind, &cpu)?,
                &mut checks,
            );
        }
    }
    // (N, C): one class; fewer classes than a cube's units; an LM head's
    // vocabulary (mamba-130m's padded 50,280) with logits of spread 10.
    for (rows, classes) in [(1, 1), (3, 7), (37, 300), (64, 10), (16, 50_280)] {
        let labels: Vec<i64> = (0..rows)
            .map(|_| rng_tokens.random_range(0..classes as i64))
            .collect();
        let mut logits = draw(&[rows, classes]);
        logits.data.iter_mut().for_each(|x| *x *= 10.0);
        let draws = [logits];
        compare(
            format!("cross entropy N{rows} C{classes}"),
            &run_cross_entropy::<B>(&draws, &labels, device)?,
            &run_cross_entropy::<Autodiff<Flex>>(&draws, &labels, &cpu)?,
            &mut checks,
        );
    }
    // The optimiser's kernels: odd lengths, one longer than a launch's cubes.
    for n in [1, 1000, 300_001] {
        let mut v = draw(&[n]);
        v.data.iter_mut().for_each(|x| *x = x.abs());
        let draws = [draw(&[n]), draw(&[n]), draw(&[n]), v];
        compare(
            format!("adamw n{n}"),
            &run_adamw::<B>(&draws, device),
            &run_adamw::<Autodiff<Flex>>(&draws, &cpu),
            &mut checks,
        );
    }
    let draws = [draw(&[1]), draw(&[1000]), draw(&[300_001])];
    compare(
        "sum of squares".into(),
        &run_sum_of_squares::<B>(&draws, device),
        &run_sum_of_squares::<Autodiff<Flex>>(&draws, &cpu),
        &mut checks,
    );
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The harness itself: the CPU against the CPU is exact, and the CPU's
    /// f32 results stay within the conditioned checks' fixed ceilings of f64.
    #[test]
    fn cpu_ops_match_themselves() {
        let checks = op_checks::<Autodiff<Flex>>(&Default::default()).unwrap();
        assert!(checks.len() > 30);
        for check in checks {
            if check.what.contains(" vs f64") {
                assert!(check.passed(), "{check}");
            } else {
                assert_eq!(check.error, 0.0, "{check}");
            }
        }
    }

    #[test]
    fn cpu_scan_matches_itself() {
        let cases: Vec<_> = scan_cases()
            .into_iter()
            .filter(|c| c.dtype == DType::F32)
            .collect();
        let checks = selective_scan_checks::<Autodiff<Flex>>(&cases, &Default::default()).unwrap();
        assert!(checks.len() > 40);
        for check in checks {
            assert_eq!(check.error, 0.0, "{check}");
        }
    }
}
