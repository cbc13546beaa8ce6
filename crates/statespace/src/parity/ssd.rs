//! SSD parity: the backend's `ssd` (forward and autodiff backward) against
//! the CPU recurrence, at shapes that hit the edges of the chunked GPU
//! kernels: L = 1, lengths that end inside a chunk, head and state sizes
//! over one 64-wide block, more chunks than the state pass loads at once,
//! grouped B and C, with and without an initial state, bf16 and f16.

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
use crate::ops::{Ssd, SsdOps, ssd};

/// One SSD parity case.
#[derive(Debug, Clone)]
pub struct SsdCase {
    /// Batch rows.
    pub batch: usize,
    /// Sequence length L.
    pub len: usize,
    /// Heads H.
    pub heads: usize,
    /// Head size P.
    pub headdim: usize,
    /// Groups G sharing B and C.
    pub groups: usize,
    /// State size N.
    pub n: usize,
    /// Whether an initial state is passed.
    pub initial_state: bool,
    /// Storage type of every input on the device.
    pub dtype: DType,
}

/// The shapes every GPU backend must match the CPU on.
pub fn ssd_cases() -> Vec<SsdCase> {
    let case = |batch, len, heads, headdim, groups, n, initial_state, dtype| SsdCase {
        batch,
        len,
        heads,
        headdim,
        groups,
        n,
        initial_state,
        dtype,
    };
    vec![
        case(1, 1, 2, 3, 1, 5, true, DType::F32),
        case(2, 37, 4, 8, 2, 16, false, DType::F32),
        case(1, 128, 2, 16, 1, 32, true, DType::F32),
        case(1, 200, 3, 70, 3, 130, true, DType::F32),
        case(2, 130, 4, 64, 1, 128, true, DType::BF16),
        // More chunks than the state pass loads at a time (18 of 64 steps).
        case(1, 1100, 2, 16, 1, 16, true, DType::F32),
        case(1, 100, 2, 32, 1, 64, false, DType::F16),
    ]
}

/// x, a, B, C, the initial state and the gradients of y and the final state.
type SsdDraws = [Draw; 7];

fn run_ssd<B: AutodiffBackend + SsdOps>(
    case: &SsdCase,
    draws: &SsdDraws,
    dtype: DType,
    device: &B::Device,
) -> Result<Results> {
    let x = draws[0].tensor::<B, 4>(device, dtype);
    let a = draws[1].tensor::<B, 3>(device, dtype);
    let b = draws[2].tensor::<B, 4>(device, dtype);
    let c = draws[3].tensor::<B, 4>(device, dtype);
    let init = draws[4].tensor::<B, 4>(device, dtype);
    let (y, last) = ssd(Ssd {
        x: x.clone(),
        a: a.clone(),
        b: b.clone(),
        c: c.clone(),
        chunk_size: 64,
        initial_state: case.initial_state.then(|| init.clone()),
        starts: None,
    })?;
    let grad_y = draws[5].tensor::<B, 4>(device, dtype).detach();
    let grad_last = draws[6].tensor::<B, 4>(device, dtype).detach();
    let loss = (y.clone().cast(DType::F32) * grad_y.cast(DType::F32)).sum()
        + (last.clone().cast(DType::F32) * grad_last.cast(DType::F32)).sum();
    let grads = loss.backward();
    let grad = |name: &'static str, g: Option<Vec<f64>>| (name, g.unwrap_or_default());
    let mut results = vec![
        ("y", host(&y)),
        ("final_state", host(&last)),
        grad("grad_x", x.grad(&grads).map(|g| host(&g))),
        grad("grad_a", a.grad(&grads).map(|g| host(&g))),
        grad("grad_B", b.grad(&grads).map(|g| host(&g))),
        grad("grad_C", c.grad(&grads).map(|g| host(&g))),
    ];
    if case.initial_state {
        results.push(grad(
            "grad_initial_state",
            init.grad(&grads).map(|g| host(&g)),
        ));
    }
    Ok(results)
}

/// SSD on backend `B` against the CPU, for each case (see [`ssd_cases`]):
/// one check per output and gradient.
pub fn ssd_checks<B: AutodiffBackend + SsdOps>(
    cases: &[SsdCase],
    device: &B::Device,
) -> Result<Vec<Check>> {
    let mut checks = Vec::new();
    for (index, case) in cases.iter().enumerate() {
        let mut rng = ChaCha8Rng::seed_from_u64(100 + index as u64);
        let normal = Normal::new(0.0f32, 1.0).expect("valid normal");
        let n01 = |r: &mut ChaCha8Rng| normal.sample(r);
        // a = Δ·A ≤ 0, as Mamba-2's discretised decays.
        let decay = Uniform::new(0.01f32, 0.5).expect("valid range");
        let (bt, len, h, p, g, n) = (
            case.batch,
            case.len,
            case.heads,
            case.headdim,
            case.groups,
            case.n,
        );
        let draws: SsdDraws = [
            Draw::new(&mut rng, &[bt, len, h, p], n01),
            Draw::new(&mut rng, &[bt, len, h], |r| -decay.sample(r)),
            Draw::new(&mut rng, &[bt, len, g, n], n01),
            Draw::new(&mut rng, &[bt, len, g, n], n01),
            Draw::new(&mut rng, &[bt, h, p, n], n01),
            Draw::new(&mut rng, &[bt, len, h, p], n01),
            Draw::new(&mut rng, &[bt, h, p, n], n01),
        ];
        let ours = run_ssd::<B>(case, &draws, case.dtype, device)?;
        let rounded = draws.each_ref().map(|d| d.rounded(case.dtype));
        let reference = run_ssd::<Autodiff<Flex>>(case, &rounded, DType::F32, &Default::default())?;
        let label = format!(
            "ssd b{bt} L{len} h{h} p{p} g{g} n{n}{} {:?}",
            if case.initial_state { " init" } else { "" },
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_ssd_matches_itself() {
        let cases: Vec<_> = ssd_cases()
            .into_iter()
            .filter(|c| c.dtype == DType::F32 && c.len < 150)
            .collect();
        let checks = ssd_checks::<Autodiff<Flex>>(&cases, &Default::default()).unwrap();
        assert!(checks.len() > 15);
        for check in checks {
            assert_eq!(check.error, 0.0, "{check}");
        }
    }
}
