//! One chunk of each carried mixer's language model from random states, on
//! the device against the CPU: the path of sequence parallelism and of
//! stepping a model position by position, where gradients flow into the
//! states a chunk starts from and into those it passes on. One and two
//! positions: the one-token path beside a short chunk.

use burn::backend::Autodiff;
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use burn_flex::Flex;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution as _, Normal};

use super::TOLERANCE_F32;
use super::harness::host;
use super::sequence_parallel::{host_grads, mixers, model, windows, with_failing_parameters};
use crate::error::Result;
use crate::golden::Check;
use crate::models::{LanguageModel, LmState, MixerConfig};
use crate::ops::SsmBackend;

/// Sequences of the chunk.
const BATCH: usize = 3;

/// What one chunk gives: its outputs and the gradients of its input
/// states, by name, and every parameter gradient of `model`, flattened.
struct StepResults<B: SsmBackend> {
    named: Vec<(String, Vec<f64>)>,
    params: Vec<f64>,
    model: LanguageModel<B>,
}

/// Values of N(0, 1) from `rng`, as many as `like` holds, in its type and on its device.
fn normal_like<B: SsmBackend>(rng: &mut ChaCha8Rng, like: &Tensor<B, 1>) -> Tensor<B, 1> {
    let normal = Normal::new(0.0f32, 1.0).expect("valid normal");
    let n = like.dims()[0];
    let values: Vec<f32> = (0..n).map(|_| normal.sample(rng)).collect();
    Tensor::from_data(TensorData::new(values, [n]), (&like.device(), like.dtype()))
}

/// The LM of `mixer` on the first `len` positions of [`windows`] from
/// random states: the loss is a random weighting of the logits and of the
/// states after the chunk, so that every output gets a gradient.
fn step_results<B>(mixer: MixerConfig, len: usize, device: &B::Device) -> Result<StepResults<B>>
where
    B: AutodiffBackend + SsmBackend,
{
    let model: LanguageModel<B> = model(mixer, device)?;
    let part = windows(BATCH).positions(0..len)?;
    let ids = Tensor::<B, 2, Int>::from_data(TensorData::new(part.inputs, [BATCH, len]), device);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let mut starts = Vec::new();
    let mut layers = Vec::new();
    for zero in model.initial_state(BATCH)?.layers {
        let parts: Vec<Tensor<B, 1>> = zero
            .flat_parts()?
            .iter()
            .map(|z| normal_like(&mut rng, z).require_grad())
            .collect();
        starts.push(parts.clone());
        layers.push(zero.with_flat_parts(parts)?);
    }
    let (logits, next) = model.forward_with_state(&LmState { layers }, ids)?;
    let flat_logits = logits.clone().flatten::<1>(0, 2);
    let mut loss = (flat_logits.clone() * normal_like(&mut rng, &flat_logits)).sum();
    let mut named = vec![("logits".to_string(), host(&logits))];
    for (block, state) in next.layers.iter().enumerate() {
        for (i, part) in state.flat_parts()?.into_iter().enumerate() {
            named.push((format!("block {block} state part {i} after"), host(&part)));
            loss = loss + (part.clone() * normal_like(&mut rng, &part)).sum();
        }
    }
    let grads = loss.backward();
    for (block, parts) in starts.iter().enumerate() {
        for (i, part) in parts.iter().enumerate() {
            let grad = part.grad(&grads).map(|g| host(&g)).unwrap_or_default();
            named.push((format!("∂(block {block} state part {i} before)"), grad));
        }
    }
    let params = host_grads(&model, &GradientsParams::from_grads(grads, &model));
    Ok(StepResults {
        named,
        params,
        model,
    })
}

/// For each carried mixer, its LM on one and on two positions from random
/// states on `device` against the CPU, within [`TOLERANCE_F32`]: the
/// logits, the states passed on, the gradients of the states it started
/// from and of every parameter (naming those out of tolerance).
pub fn carried_step_checks<B>(device: &B::Device) -> Result<Vec<Check>>
where
    B: AutodiffBackend + SsmBackend,
{
    let mut checks = Vec::new();
    for (name, mixer) in mixers() {
        for len in [1, 2] {
            let ours = step_results::<B>(mixer.clone(), len, device)?;
            let reference =
                step_results::<Autodiff<Flex>>(mixer.clone(), len, &Default::default())?;
            let what = format!("carried step, {name} LM, L {len}");
            for ((output, actual), (_, expected)) in ours.named.iter().zip(&reference.named) {
                checks.push(Check::new(
                    format!("{what}: {output}"),
                    actual,
                    expected,
                    TOLERANCE_F32,
                ));
            }
            checks.extend(with_failing_parameters(
                &what,
                &reference.model,
                &ours.params,
                &reference.params,
            ));
        }
    }
    Ok(checks)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_matches_itself_on_every_output_and_gradient() {
        let checks = carried_step_checks::<Autodiff<Flex>>(&Default::default()).unwrap();
        // Per mixer and length: logits, the states after and the
        // gradients of those before (2 blocks), and the parameters.
        let parts = [2, 2, 4, 1];
        let expected: usize = parts.iter().map(|p| 2 * (1 + 2 * 2 * p + 1)).sum();
        assert_eq!(checks.len(), expected);
        for check in checks {
            assert_eq!(check.error, 0.0, "{check}");
        }
    }
}
