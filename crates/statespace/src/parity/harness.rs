//! What every parity check shares: host draws sent to both backends, the
//! named results of one run, and the comparisons that turn them into checks.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, Tensor, TensorData};
use rand_chacha::ChaCha8Rng;

use super::{TOLERANCE_BF16, TOLERANCE_F32, TOLERANCE_F64};

/// One check per result of `$run` on backend `$b` (on `$cx.device`) against
/// the same run on the CPU (`$run(args…, device)` returns
/// `Result<Results>`), within [`TOLERANCE_F32`] or the tolerance given
/// after `within`, added to `$cx.checks`.
macro_rules! versus_cpu {
    ($cx:expr, $label:expr, $run:ident::<$b:ty>($($arg:expr),*)) => {
        versus_cpu!($cx, $label, $run::<$b>($($arg),*), within $crate::parity::TOLERANCE_F32)
    };
    ($cx:expr, $label:expr, $run:ident::<$b:ty>($($arg:expr),*), within $tolerance:expr) => {
        $crate::parity::harness::compare_within(
            $label,
            &$run::<$b>($($arg,)* $cx.device)?,
            &$run::<burn::backend::Autodiff<burn_flex::Flex>>($($arg,)* &Default::default())?,
            $tolerance,
            $cx.checks,
        )
    };
}
/// One check per result of `$run` on backend `$b` with the array of draws
/// `$draws` stored as the 16-bit `$dtype` (on `$cx.device`), against the
/// same run on the CPU in f32 on the draws rounded to `$dtype`, within
/// [`tolerance_for`] `$dtype`; labelled "`$label` in `$dtype` vs f32".
/// `$run(&draws, args…, dtype, device)` returns `Result<Results>`.
macro_rules! half_versus_f32 {
    ($cx:expr, $label:expr, $dtype:expr, $run:ident::<$b:ty>($draws:expr $(, $arg:expr)*)) => {{
        let dtype: burn::tensor::DType = $dtype;
        let rounded = $draws.each_ref().map(|d| d.rounded(dtype));
        $crate::parity::harness::compare_within(
            format!("{} in {dtype:?} vs f32", $label),
            &$run::<$b>(&$draws, $($arg,)* dtype, $cx.device)?,
            &$run::<burn::backend::Autodiff<burn_flex::Flex>>(
                &rounded,
                $($arg,)*
                burn::tensor::DType::F32,
                &Default::default(),
            )?,
            $crate::parity::harness::tolerance_for(dtype),
            $cx.checks,
        )
    }};
}
use crate::golden::Check;
use crate::io::HostTensor;
pub(super) use {half_versus_f32, versus_cpu};

/// Host values of one tensor, drawn once and sent to both backends.
pub(super) struct Draw {
    pub(super) data: Vec<f32>,
    pub(super) shape: Vec<usize>,
}

impl Draw {
    pub(super) fn new(
        rng: &mut ChaCha8Rng,
        shape: &[usize],
        sample: impl Fn(&mut ChaCha8Rng) -> f32,
    ) -> Self {
        let count = shape.iter().product();
        Self {
            data: (0..count).map(|_| sample(rng)).collect(),
            shape: shape.to_vec(),
        }
    }

    /// On `device` as `dtype`, as a gradient leaf.
    pub(super) fn tensor<B: AutodiffBackend, const D: usize>(
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

    /// A (B, X…, L) draw as the (B, L, X…) tensor it is a permutation of:
    /// time before the other axes, as Mamba's projections lay it out.
    pub(super) fn time_major(&self) -> Self {
        let (batch, len) = (self.shape[0], self.shape[self.shape.len() - 1]);
        let inner = self.data.len() / (batch * len);
        let mut data = vec![0.0; self.data.len()];
        for b in 0..batch {
            for x in 0..inner {
                for t in 0..len {
                    data[(b * len + t) * inner + x] = self.data[(b * inner + x) * len + t];
                }
            }
        }
        let mut shape = vec![batch, len];
        shape.extend_from_slice(&self.shape[1..self.shape.len() - 1]);
        Self { data, shape }
    }

    /// The values as `dtype` stores them, back in f32 (what the device sees).
    pub(super) fn rounded(&self, dtype: DType) -> Self {
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
pub(super) type Results = Vec<(&'static str, Vec<f64>)>;

pub(super) fn host<B: burn::tensor::backend::Backend, const D: usize>(
    t: &Tensor<B, D>,
) -> Vec<f64> {
    // f64 results keep their digits (an f64 op computed in f32 must show);
    // the others are read as f32.
    let t = match t.dtype() {
        DType::F64 => t.clone(),
        _ => t.clone().cast(DType::F32),
    };
    HostTensor::from_tensor(&t).data
}

/// A named reader of one input's gradient.
pub(super) type GradOf<'a, B> = (&'static str, &'a dyn Leaf<B>);

/// A gradient leaf of any rank, whose gradient is read back to the host.
pub(super) trait Leaf<B: AutodiffBackend> {
    /// This leaf's gradient in `grads`, on the host (`None` if it has none).
    fn host_grad(&self, grads: &B::Gradients) -> Option<Vec<f64>>;
}

impl<B: AutodiffBackend, const D: usize> Leaf<B> for Tensor<B, D> {
    fn host_grad(&self, grads: &B::Gradients) -> Option<Vec<f64>> {
        self.grad(grads).map(|t| host(&t))
    }
}

/// What one op family's checks work with: the seeded draws and token
/// stream every family shares (in a fixed order), the device under test,
/// and the checks so far.
pub(super) struct Cx<'a, B: AutodiffBackend> {
    pub(super) draws: &'a mut dyn FnMut(&[usize]) -> Draw,
    pub(super) tokens: &'a mut ChaCha8Rng,
    pub(super) device: &'a B::Device,
    pub(super) checks: &'a mut Vec<Check>,
}

impl<B: AutodiffBackend> Cx<'_, B> {
    /// The next draw, of `shape`.
    pub(super) fn draw(&mut self, shape: &[usize]) -> Draw {
        (self.draws)(shape)
    }
}

/// Every output and input gradient of `out` (a loss Σ out·g backs it).
pub(super) fn outputs_and_grads<B: AutodiffBackend, const D: usize>(
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
        results.push((name, grad.host_grad(&grads).unwrap_or_default()));
    }
    results
}

/// One check per named result, each within `tolerance`.
pub(super) fn compare_within(
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

/// The tolerance of results stored as `dtype`: [`TOLERANCE_F64`] for f64,
/// [`TOLERANCE_F32`] for f32, [`TOLERANCE_BF16`] for the 16-bit types.
pub(super) fn tolerance_for(dtype: DType) -> f64 {
    match dtype {
        DType::F64 => TOLERANCE_F64,
        DType::F32 => TOLERANCE_F32,
        _ => TOLERANCE_BF16,
    }
}

/// Checks of f32 results against the CPU in f64 where f32 itself limits the
/// accuracy, each within a fixed `ceiling` chosen per case from the CPU's
/// own f32 error on it (measured: ≤ 1.1e-5 for a ZOH S4D kernel at L 1000,
/// ≤ 6.2e-5 bilinear, where the high modes barely decay and rounding log Ā
/// to f32 alone moves the kernel by ≈ 5·10⁻⁵ on any f32 implementation);
/// `cpu_ops_match_themselves` holds the CPU's f32 to the same ceilings.
pub(super) fn compare_conditioned(
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

/// The checks of a group whose ranks each hold a result: the worst rank's
/// against `expected` within `tolerance`, and, for several ranks, the most
/// values of any rank whose bits differ from rank 0's (none may: training
/// keeps its replicas equal by them). `ranks` holds rank 0's result first.
pub(super) fn rank_checks(
    what: &str,
    ranks: &[Vec<f64>],
    expected: &[f64],
    tolerance: f64,
) -> Vec<Check> {
    let worst = ranks
        .iter()
        .enumerate()
        .map(|(r, result)| Check::new(format!("{what}, rank {r}"), result, expected, tolerance))
        .max_by(|a, b| a.error.total_cmp(&b.error));
    let mut checks: Vec<Check> = worst.into_iter().collect();
    if let Some((first, rest)) = ranks.split_first()
        && !rest.is_empty()
    {
        let differing = rest
            .iter()
            .map(|r| {
                r.iter()
                    .zip(first)
                    .filter(|(a, b)| a.to_bits() != b.to_bits())
                    .count()
            })
            .max()
            .unwrap_or(0);
        checks.push(Check {
            what: format!("{what}: values differing from rank 0's bits (most of any rank)"),
            error: differing as f64,
            tolerance: 0.0,
        });
    }
    checks
}

/// The device of backend `B` for CUDA GPU `index`, or `None` where `B`
/// does not run on CUDA.
#[cfg(feature = "cuda")]
pub(super) fn cuda_device<B: burn::tensor::backend::Backend>(index: usize) -> Option<B::Device> {
    let device: Box<dyn std::any::Any> = Box::new(cubecl::cuda::CudaDevice { index });
    device.downcast::<B::Device>().ok().map(|d| *d)
}
