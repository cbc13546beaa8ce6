//! Data parallelism over real devices: a small Mamba and Mamba-2 language
//! model's parameter gradient on one device for the whole batch against
//! the sum over ranks on several devices, each holding the same model and
//! some of the rows, summed by the transport training uses
//! ([`crate::train::ranks::on_ranks`]: NCCL between GPUs). Every rank's
//! sum must match the single device's within tolerance and carry the same
//! bits as every other rank's (the replicas stay equal).

#[cfg(feature = "cuda")]
use std::any::Any;

use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;

use super::TOLERANCE_F32;
#[cfg(feature = "cuda")]
use super::harness::cuda_device;
use super::harness::rank_checks;
use super::sequence_parallel::{host_grads, mean_loss, model, whole_gradient, windows};
use crate::error::Result;
use crate::golden::Check;
use crate::layers::mamba::MambaConfig;
use crate::layers::mamba2::Mamba2Config;
use crate::models::MixerConfig;
use crate::ops::SsmBackend;
use crate::tasks::text::Windows;
use crate::train::collective::Collective;
use crate::train::data_parallel::all_reduce_grads;
use crate::train::objective::Shard;
use crate::train::ranks::on_ranks;

/// The mixers checked: the two the language-model recipes train.
fn mixers() -> Vec<(&'static str, MixerConfig)> {
    vec![
        ("mamba", MixerConfig::Mamba(MambaConfig::new(8))),
        (
            "mamba2",
            MixerConfig::Mamba2(Mamba2Config {
                headdim: 4,
                d_state: 6,
                chunk_size: 4,
                ..Mamba2Config::new(8)
            }),
        ),
    ]
}

/// The rows `shard` holds of `whole`.
fn rows(whole: &Windows, shard: Shard) -> Windows {
    let len = whole.inputs.len() / whole.count;
    let range = shard.range(whole.count);
    Windows {
        inputs: whole.inputs[range.start * len..range.end * len].to_vec(),
        targets: whole.targets[range.start * len..range.end * len].to_vec(),
        count: range.len(),
    }
}

/// The data-parallel checks on `device`'s backend: on a CUDA GPU, over
/// every visible GPU (none where only one is); elsewhere over 3 ranks
/// sharing `device` (the host transport).
pub fn data_parallel_checks<B>(device: &B::Device) -> Result<Vec<Check>>
where
    B: AutodiffBackend + SsmBackend,
{
    data_parallel_checks_on::<B>(&rank_devices::<B>(device)?)
}

/// The devices of the ranks: every visible GPU, or 3 copies of `device`.
fn rank_devices<B: AutodiffBackend>(device: &B::Device) -> Result<Vec<B::Device>> {
    #[cfg(feature = "cuda")]
    if (device as &dyn Any).is::<cubecl::cuda::CudaDevice>() {
        let visible = cudarc::driver::result::device::get_count().map_err(|e| {
            crate::error::Error::Numerical {
                what: "data-parallel check".into(),
                message: format!("cannot count the GPUs: {e}"),
            }
        })? as usize;
        return Ok((0..visible).filter_map(cuda_device::<B>).collect());
    }
    Ok(vec![device.clone(); 3])
}

/// For each mixer, every rank's summed gradient over `devices` (one rank
/// each, at least 5 rows of 14 positions, at least one a rank) against one
/// rank on `devices[0]` with every row, within [`TOLERANCE_F32`] (the worst
/// rank), and every rank's bits against rank 0's. None for fewer than two
/// devices.
pub fn data_parallel_checks_on<B>(devices: &[B::Device]) -> Result<Vec<Check>>
where
    B: AutodiffBackend + SsmBackend,
{
    if devices.len() < 2 {
        return Ok(Vec::new());
    }
    let whole = windows(devices.len().max(5));
    let mut checks = Vec::new();
    for (name, mixer) in mixers() {
        let single = whole_gradient(
            &model::<B>(mixer.clone(), &devices[0])?,
            &whole,
            &devices[0],
        )?;
        let rank = |member: &dyn Collective, device: &B::Device| -> Result<Vec<f64>> {
            let model = model::<B>(mixer.clone(), device)?;
            let part = rows(
                &whole,
                Shard {
                    index: member.rank(),
                    count: member.size(),
                },
            );
            let targets = part.targets.len();
            let logits = model.forward_ids(part.inputs, part.count)?;
            let loss = mean_loss(logits, part.targets, device)?;
            let grads = GradientsParams::from_grads(loss.backward(), &model);
            let summed = all_reduce_grads::<B, _>(&model, grads, targets, member)?;
            Ok(host_grads(&model, &summed))
        };
        let outcome = on_ranks(devices, rank, rank);
        let transport = outcome.transport.name();
        let (lead, others) = outcome.into_all()?;
        let mut sums = vec![lead];
        sums.extend(others);
        checks.extend(rank_checks(
            &format!(
                "data parallel, {name} LM on {} ranks ({transport}): parameter gradients",
                devices.len()
            ),
            &sums,
            &single,
            TOLERANCE_F32,
        ));
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use burn::backend::Autodiff;
    use burn_flex::Flex;

    use super::*;

    type B = Autodiff<Flex>;

    #[test]
    fn ranks_on_parts_of_the_rows_sum_to_the_whole_batch_gradient() {
        let checks = data_parallel_checks::<B>(&Default::default()).unwrap();
        assert_eq!(checks.len(), 4);
        for check in checks {
            assert!(check.passed(), "{check}");
            assert!(check.what.contains("(host)"), "{check}");
        }
        assert!(
            data_parallel_checks_on::<B>(&[Default::default()])
                .unwrap()
                .is_empty()
        );
    }
}
