//! NCCL, the data-parallel transport between GPUs, against the host: each
//! rank of a clique sums a random f32 buffer in place on its GPU (the call
//! the gradient exchange makes), and every rank's result must equal the f64
//! sum of all ranks' buffers, and carry the same bits as every other
//! rank's. A clique of one runs on the selftest's GPU;
//! where more GPUs are visible, a clique of all of them runs too, one
//! thread a rank, as in training.

use std::any::Any;

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use burn_cubecl::tensor::CubeTensor;
use cubecl::cuda::{CudaDevice, CudaRuntime};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, Normal};

use super::TOLERANCE_F32;
use super::harness::{cuda_device, rank_checks};
use crate::error::{Error, Result};
use crate::golden::Check;
use crate::ops::cuda_libs::nccl::{self, Clique, Communicator};

/// Values per buffer: odd, so no rank's share of NCCL's ring is whole.
const LEN: usize = 1_000_003;

/// The error of an NCCL failure.
fn nccl_error(message: String) -> Error {
    Error::Numerical {
        what: "NCCL".into(),
        message,
    }
}

/// The NCCL checks on backend `B`'s device: none where it is not a CUDA
/// GPU, and none, said on stderr with the reason, where NCCL is turned off
/// (`SSM_NCCL=off`) or does not load (it is optional: without it the
/// gradients go through host memory).
pub fn nccl_checks<B: Backend>(device: &B::Device) -> Result<Vec<Check>> {
    let Some(&CudaDevice { index }) = (device as &dyn Any).downcast_ref::<CudaDevice>() else {
        return Ok(Vec::new());
    };
    let loaded = if nccl::enabled() {
        nccl::version()
    } else {
        Err("SSM_NCCL=off".into())
    };
    let (major, minor, patch) = match loaded {
        Ok(version) => version,
        Err(why) => {
            eprintln!("skipped the NCCL checks: {why}");
            return Ok(Vec::new());
        }
    };
    let version = format!("{major}.{minor}.{patch}");
    let visible = cudarc::driver::result::device::get_count()
        .map_err(|e| nccl_error(format!("cannot count the GPUs: {e}")))? as usize;
    let mut checks = clique_sum::<B>(&[index], &version)?;
    if visible > 1 {
        let all: Vec<usize> = (0..visible).collect();
        checks.extend(clique_sum::<B>(&all, &version)?);
    }
    Ok(checks)
}

/// One clique over `devices`: every rank's in-place sum against the
/// host's (the worst rank), and, for several ranks, every rank's bits
/// against rank 0's (training keeps the replicas equal by them).
fn clique_sum<B: Backend>(devices: &[usize], version: &str) -> Result<Vec<Check>> {
    let draws: Vec<Vec<f32>> = (0..devices.len())
        .map(|rank| {
            let mut rng = ChaCha8Rng::seed_from_u64(0x5eed + rank as u64);
            let normal = Normal::new(0.0f32, 1.0).expect("a valid normal");
            (0..LEN).map(|_| normal.sample(&mut rng)).collect()
        })
        .collect();
    let expected: Vec<f64> = (0..LEN)
        .map(|i| draws.iter().map(|d| f64::from(d[i])).sum())
        .collect();
    let clique = Clique::new(devices).map_err(nccl_error)?;
    let results: Vec<Result<Vec<f32>>> = std::thread::scope(|scope| {
        let clique = &clique;
        let handles: Vec<_> = clique
            .members()
            .iter()
            .zip(&draws)
            .map(|(comm, values)| {
                scope.spawn(move || {
                    // An error or a panic (unwinding drops the guard) aborts
                    // the clique: the others' sums must not wait for this
                    // rank.
                    let guard = AbortOnDrop(Some(clique));
                    let out = rank_sum::<B>(comm, values);
                    if out.is_ok() {
                        guard.disarm();
                    }
                    out
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(nccl_error("a rank's thread panicked".into())))
            })
            .collect()
    });
    drop(clique);
    let results: Vec<Vec<f64>> = results
        .into_iter()
        .map(|r| r.map(|v| v.into_iter().map(f64::from).collect()))
        .collect::<Result<_>>()?;
    let what = format!(
        "nccl {version}: in-place sum of {LEN} f32 over {} GPU(s) {devices:?}",
        devices.len()
    );
    Ok(rank_checks(&what, &results, &expected, TOLERANCE_F32))
}

/// Aborts a clique when dropped armed.
struct AbortOnDrop<'a>(Option<&'a Clique>);

impl AbortOnDrop<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for AbortOnDrop<'_> {
    fn drop(&mut self) {
        if let Some(clique) = self.0 {
            clique.abort();
        }
    }
}

/// One rank's buffer summed over its clique on its GPU, read back.
fn rank_sum<B: Backend>(comm: &Communicator, values: &[f32]) -> Result<Vec<f32>> {
    let device = cuda_device::<B>(comm.device())
        .ok_or_else(|| nccl_error("the backend's device is not a CUDA device".into()))?;
    let tensor = Tensor::<B, 1>::from_data(TensorData::new(values.to_vec(), [LEN]), &device);
    let primitive = tensor.into_primitive().tensor();
    let cuda = (&primitive as &dyn Any)
        .downcast_ref::<CubeTensor<CudaRuntime>>()
        .ok_or_else(|| nccl_error("the backend's tensor is not a CUDA tensor".into()))?;
    comm.all_reduce_sum_in_place(cuda).map_err(nccl_error)?;
    let summed = Tensor::<B, 1>::from_primitive(burn::tensor::TensorPrimitive::Float(primitive));
    Ok(summed
        .into_data()
        .convert::<f32>()
        .into_vec::<f32>()
        .expect("converted to f32"))
}
