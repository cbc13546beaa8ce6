//! Sequence parallelism on a device: a small language model of each mixer
//! whose state the ranks carry, its parameter gradient on one rank for
//! whole sequences against the sum over 2 and 3 ranks (threads on the same
//! device) that each hold consecutive positions
//! ([`crate::train::sequence_parallel`]). Catches a device kernel that
//! drops the gradient of a scan's initial state, which the CPU tests
//! cannot see.

use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

use super::TOLERANCE_F32;
use crate::error::Result;
use crate::golden::Check;
use crate::io::state_dict::param_infos;
use crate::layers::mamba::MambaConfig;
use crate::layers::mamba2::Mamba2Config;
use crate::layers::mamba3::Mamba3Config;
use crate::layers::s5::S5Config;
use crate::models::{LanguageModel, LmConfig, MixerConfig};
use crate::ops::{SsmBackend, mean_cross_entropy};
use crate::tasks::text::Windows;
use crate::train::collective::Collective;
use crate::train::data_parallel::all_reduce_grads;
use crate::train::optim::flat_grads;
use crate::train::ranks::on_ranks;
use crate::train::sequence_parallel::Chain;

/// Tokens of the models' vocabulary.
const VOCAB: usize = 11;

/// One small mixer of each kind whose state is carried; Mamba-2 and
/// Mamba-3 with chunks of 4, so that parts start inside chunks.
pub(super) fn mixers() -> Vec<(&'static str, MixerConfig)> {
    vec![
        ("mamba", MixerConfig::Mamba(MambaConfig::new(8))),
        (
            "mamba2",
            MixerConfig::Mamba2(Mamba2Config {
                headdim: 4,
                ngroups: 2,
                d_state: 6,
                chunk_size: 4,
                ..Mamba2Config::new(8)
            }),
        ),
        (
            "mamba3 mimo",
            MixerConfig::Mamba3(Mamba3Config {
                d_state: 6,
                headdim: 4,
                is_mimo: true,
                mimo_rank: 2,
                chunk_size: 4,
                ..Mamba3Config::new(8)
            }),
        ),
        (
            "s5",
            MixerConfig::S5(S5Config {
                ssm_size: 8,
                blocks: 2,
                ..S5Config::new(8)
            }),
        ),
    ]
}

/// The mean next-token loss of `windows` from their logits.
pub(super) fn mean_loss<B: SsmBackend>(
    logits: Tensor<B, 3>,
    targets: Vec<i64>,
    device: &B::Device,
) -> Result<Tensor<B, 1>> {
    let n = targets.len();
    let targets = Tensor::<B, 1, Int>::from_data(TensorData::new(targets, [n]), device);
    mean_cross_entropy(logits.reshape([n, VOCAB]), targets)
}

/// Every parameter gradient of `model`, flattened, on the host.
pub(super) fn host_grads<B: AutodiffBackend>(
    model: &LanguageModel<B>,
    grads: &GradientsParams,
) -> Vec<f64> {
    flat_grads::<B, _>(model, grads)
        .into_iter()
        .flat_map(|g| g.into_data().iter::<f64>().collect::<Vec<_>>())
        .collect()
}

/// The summed gradient of `ranks` ranks (threads on `device`), each on its
/// part of the positions of `whole`. Without `exchange`, each rank's
/// backward leaves out the later ranks' dependence on its states (a control
/// the checks must fail).
pub(super) fn split_gradient<B>(
    model: &LanguageModel<B>,
    whole: &Windows,
    ranks: usize,
    device: &B::Device,
    exchange: bool,
) -> Result<Vec<f64>>
where
    B: AutodiffBackend + SsmBackend,
{
    let len = whole.inputs.len() / whole.count;
    let rank = |member: &dyn Collective| -> Result<Vec<f64>> {
        let r = member.rank();
        let part = whole.positions(r * len / ranks..(r + 1) * len / ranks)?;
        let mut chain = Chain::<B>::new(member, device);
        let logits = model.forward_ids_carried(part.inputs, part.count, &mut chain)?;
        let targets = part.targets.len();
        let loss = mean_loss(logits, part.targets, device)?;
        let grads = if exchange {
            chain.backward(loss, targets)?
        } else {
            loss.backward()
        };
        let grads = GradientsParams::from_grads(grads, model);
        let summed = all_reduce_grads::<B, _>(model, grads, targets, member)?;
        Ok(host_grads(model, &summed))
    };
    // Rank 0's sum (every rank holds the same), or a rank's own error in
    // preference to another's abort.
    let rank = |member: &dyn Collective, _: &B::Device| rank(member);
    on_ranks(&vec![device.clone(); ranks], rank, rank).into_lead()
}

/// `count` windows of 14 random tokens (and random targets).
pub(super) fn windows(count: usize) -> Windows {
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let len = 14;
    let mut token = || rand::Rng::random_range(&mut rng, 0..VOCAB as i64);
    Windows {
        inputs: (0..count * len).map(|_| token()).collect(),
        targets: (0..count * len).map(|_| token()).collect(),
        count,
    }
}

/// A 2-block language model of `mixer`.
pub(super) fn model<B: SsmBackend>(
    mixer: MixerConfig,
    device: &B::Device,
) -> Result<LanguageModel<B>> {
    let config = LmConfig {
        vocab_size: VOCAB,
        n_layer: 2,
        mixer,
        norm_eps: 1e-5,
        tie_embeddings: true,
    };
    config.init::<B>(device, &mut ChaCha8Rng::seed_from_u64(3))
}

/// The gradient of one rank on the whole windows.
pub(super) fn whole_gradient<B>(
    model: &LanguageModel<B>,
    whole: &Windows,
    device: &B::Device,
) -> Result<Vec<f64>>
where
    B: AutodiffBackend + SsmBackend,
{
    let logits = model.forward_ids(whole.inputs.clone(), whole.count)?;
    logits_gradient(model, logits, whole, device)
}

/// Every parameter gradient of `model` (on the host) of the mean loss of
/// `logits`, the model's over all of `whole`.
fn logits_gradient<B>(
    model: &LanguageModel<B>,
    logits: Tensor<B, 3>,
    whole: &Windows,
    device: &B::Device,
) -> Result<Vec<f64>>
where
    B: AutodiffBackend + SsmBackend,
{
    let loss = mean_loss(logits, whole.targets.clone(), device)?;
    Ok(host_grads(
        model,
        &GradientsParams::from_grads(loss.backward(), model),
    ))
}

/// The gradient of one rank that runs the whole windows one position at a
/// time, carrying the state within one autodiff graph: the one-token paths
/// of [`split_gradient`] over 14 ranks without threads or the exchange.
fn stepped_gradient<B>(
    model: &LanguageModel<B>,
    whole: &Windows,
    device: &B::Device,
) -> Result<Vec<f64>>
where
    B: AutodiffBackend + SsmBackend,
{
    let len = whole.inputs.len() / whole.count;
    let mut state = model.initial_state(whole.count)?;
    let mut logits = Vec::with_capacity(len);
    for t in 0..len {
        let part = whole.positions(t..t + 1)?;
        let ids =
            Tensor::<B, 2, Int>::from_data(TensorData::new(part.inputs, [part.count, 1]), device);
        let (step, next) = model.forward_with_state(&state, ids)?;
        logits.push(step);
        state = next;
    }
    logits_gradient(model, Tensor::cat(logits, 1), whole, device)
}

/// The check of `what`'s parameter gradients `actual` against `expected`
/// (both flattened in `model`'s parameter order), followed, where it fails,
/// by a check of each parameter out of tolerance, by name: which of them a
/// device gets wrong.
pub(super) fn with_failing_parameters<B: SsmBackend>(
    what: &str,
    model: &LanguageModel<B>,
    actual: &[f64],
    expected: &[f64],
) -> Vec<Check> {
    let all = Check::new(
        format!("{what}: parameter gradients"),
        actual,
        expected,
        TOLERANCE_F32,
    );
    let params = param_infos(model);
    let sizes: Vec<usize> = params.iter().map(|p| p.shape.iter().product()).collect();
    // Only where every parameter has its gradient (the flat order is then
    // the parameters' order).
    if all.passed()
        || sizes.iter().sum::<usize>() != expected.len()
        || actual.len() != expected.len()
    {
        return vec![all];
    }
    let mut checks = vec![all];
    let mut offset = 0;
    for (param, size) in params.iter().zip(sizes) {
        let range = offset..offset + size;
        offset += size;
        let check = Check::new(
            format!("{what}: ∂{}", param.name),
            &actual[range.clone()],
            &expected[range],
            TOLERANCE_F32,
        );
        if !check.passed() {
            checks.push(check);
        }
    }
    checks
}

/// For each carried mixer, the gradient of 2, 3, 5 and 14 ranks (one
/// position each: the one-token paths) on parts of 3 sequences of 14
/// positions, and of one rank stepping through the positions one at a
/// time (`stepped_gradient`), against one rank on the whole sequences,
/// within [`TOLERANCE_F32`] (norm-relative).
pub fn sequence_parallel_checks<B>(device: &B::Device) -> Result<Vec<Check>>
where
    B: AutodiffBackend + SsmBackend,
{
    let whole = windows(3);
    let mut checks = Vec::new();
    for (name, mixer) in mixers() {
        let model = model::<B>(mixer, device)?;
        let single = whole_gradient(&model, &whole, device)?;
        for ranks in [2, 3, 5, 14] {
            let split = split_gradient(&model, &whole, ranks, device, true)?;
            let what = format!("sequence parallel, {name} LM on {ranks} ranks");
            checks.extend(with_failing_parameters(&what, &model, &split, &single));
        }
        let what = format!("sequence parallel, {name} LM one position at a time on one rank");
        let stepped = stepped_gradient(&model, &whole, device)?;
        checks.extend(with_failing_parameters(&what, &model, &stepped, &single));
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
    fn split_gradients_equal_the_whole_and_the_control_does_not() {
        let checks = sequence_parallel_checks::<B>(&Default::default()).unwrap();
        assert_eq!(checks.len(), 20);
        for check in checks {
            assert!(check.passed(), "{check}");
            assert!(check.error > 0.0, "summed in another order: {check}");
        }
        let whole = windows(3);
        let device = Default::default();
        for (name, mixer) in mixers() {
            let model = model::<B>(mixer, &device).unwrap();
            let single = whole_gradient(&model, &whole, &device).unwrap();
            let control = split_gradient(&model, &whole, 2, &device, false).unwrap();
            let checks = with_failing_parameters(name, &model, &control, &single);
            assert!(
                checks[0].error > 1e-3,
                "{name}: the control agrees ({})",
                checks[0]
            );
            // The breakdown names the parameters the control gets wrong.
            assert!(checks.len() > 1, "{name}: no parameter named");
            assert!(
                checks[1..]
                    .iter()
                    .all(|c| !c.passed() && c.what.contains(": ∂")),
                "{name}: {:?}",
                checks.iter().map(|c| &c.what).collect::<Vec<_>>()
            );
        }
    }
}
