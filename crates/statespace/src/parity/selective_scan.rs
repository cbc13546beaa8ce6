//! Selective-scan parity: the backend's scan (forward and backward) against
//! the CPU, at shapes that hit the edges of the GPU kernels.

use burn::backend::Autodiff;
use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;
use burn_flex::Flex;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, Normal, Uniform};

use super::harness::{Draw, Results, compare_within, host, tolerance_for};
use crate::error::Result;
use crate::golden::Check;
use crate::ops::{SelectiveScan, SelectiveScanOps, selective_scan};

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
    /// u, δ, z and ∂out passed as transposed views of (B, L, D) tensors,
    /// and B and C as views of (B, L, G, N) tensors (as Mamba's layers pass
    /// them), not as (B, D, L) and (B, G, N, L) tensors.
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
        // Mamba's layers one and two positions at a time from a carried
        // state (sequence parallelism over as many ranks as positions).
        time_major(case(2, 8, 1, 16, 1, true, DType::F32)),
        time_major(case(2, 8, 1, 16, 2, true, DType::F32)),
        time_major(case(2, 8, 1, 16, 1, true, DType::BF16)),
    ]
}

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
    let states = |draw: &Draw| {
        if case.time_major {
            let leaf = draw.time_major().tensor::<B, 4>(device, act);
            (leaf.clone(), leaf.permute([0, 2, 3, 1]))
        } else {
            let leaf = draw.tensor::<B, 4>(device, act);
            (leaf.clone(), leaf)
        }
    };
    let (b, b_in) = states(&draws.b);
    let (c, c_in) = states(&draws.c);
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
        ..SelectiveScan::new(u_in, delta_in, a.clone(), b_in, c_in)
    };
    let (out, last) = selective_scan(scan)?;
    let grad_out = activation(&draws.grad_out).1.detach();
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
