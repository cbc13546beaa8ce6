//! Mixed precision on a device: small Mamba and Mamba-2 language models
//! with bf16 and f16 mixers on f32 parameters ([`Precision::Bf16`],
//! [`Precision::F16`]; without loss scaling, which only guards against
//! underflow) against the same models in f32 (the loss and every parameter
//! gradient); each 16-bit model's logits read in two chunks that carry the
//! recurrent state against one pass, and its gradient summed over 2 ranks
//! that each hold half of every sequence (sequence parallelism, 16-bit
//! states passed between them) against one rank. A control asks that the
//! 16-bit gradient differ from the f32 one: a pass that silently ran in
//! f32 would fail it.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};

use super::TOLERANCE_BF16;
use super::sequence_parallel::{mean_loss, mixers, model, split_gradient, whole_gradient, windows};
use crate::error::Result;
use crate::golden::Check;
use crate::models::{LanguageModel, MixerConfig, Precision};
use crate::ops::SsmBackend;
use crate::tasks::text::Windows;

/// Tolerance of a whole model's loss and gradients in bf16 or f16 against
/// f32 (norm-relative). One bf16 rounding errs by up to 2⁻⁹ ≈ 2e-3 relative,
/// but a gradient sums terms that largely cancel (the tied embedding's:
/// softmax minus one-hot, over every position), which scales the rounding
/// of each term by Σ|term| / |Σ term|. On the CPU the checks measure
/// 1.5e-2 (Mamba) and 3.0e-2 (Mamba-2, whose embedding gradient leads); a
/// broken path (a gradient that does not flow, a wrong cast) errs by O(1).
pub const TOLERANCE_MIXED: f64 = 5e-2;

/// The least norm-relative difference between a 16-bit and the f32
/// gradient that shows the pass ran in 16 bits (f32 reorderings differ by
/// about 1e-7).
const CONTROL_MIN: f64 = 1e-4;

/// The mixers mixed precision supports (those of
/// [`crate::train::TrainConfig::validate`]).
fn supported() -> Vec<(&'static str, MixerConfig)> {
    mixers()
        .into_iter()
        .filter(|(_, m)| matches!(m, MixerConfig::Mamba(_) | MixerConfig::Mamba2(_)))
        .collect()
}

/// Logits of `windows` on the host: one pass, or `split` positions first
/// and the rest from the state they leave.
fn host_logits<B: SsmBackend>(
    model: &LanguageModel<B>,
    windows: &Windows,
    split: Option<usize>,
    device: &B::Device,
) -> Result<Vec<f64>> {
    let len = windows.inputs.len() / windows.count;
    let tokens = |range: std::ops::Range<usize>| -> Result<Tensor<B, 2, Int>> {
        let part = windows.positions(range)?;
        let width = part.inputs.len() / part.count;
        Ok(Tensor::from_data(
            TensorData::new(part.inputs, [part.count, width]),
            device,
        ))
    };
    let logits = match split {
        None => model.forward(tokens(0..len)?)?,
        Some(at) => {
            let state = model.initial_state(windows.count)?;
            let (first, state) = model.forward_with_state(&state, tokens(0..at)?)?;
            let (rest, _) = model.forward_with_state(&state, tokens(at..len)?)?;
            Tensor::cat(vec![first, rest], 1)
        }
    };
    Ok(logits.into_data().iter::<f64>().collect())
}

/// For each supported mixer, in bf16 and f16: the model's loss and gradients against
/// f32 within [`TOLERANCE_MIXED`], the control, the logits of two chunks
/// against one pass within [`TOLERANCE_BF16`], and the gradient of 2
/// sequence-parallel ranks against one within [`TOLERANCE_MIXED`].
pub fn mixed_precision_checks<B>(device: &B::Device) -> Result<Vec<Check>>
where
    B: AutodiffBackend + SsmBackend,
{
    let whole = windows(3);
    let mut checks = Vec::new();
    for (name, mixer) in supported() {
        let exact = model::<B>(mixer, device)?;
        let loss = |m: &LanguageModel<B>| -> Result<Vec<f64>> {
            let logits = m.forward_ids(whole.inputs.clone(), whole.count)?;
            let loss = mean_loss(logits, whole.targets.clone(), device)?;
            Ok(loss.into_data().iter::<f64>().collect())
        };
        let exact_loss = loss(&exact)?;
        let reference = whole_gradient(&exact, &whole, device)?;
        let len = whole.inputs.len() / whole.count;
        for precision in [Precision::Bf16, Precision::F16] {
            let mixed = exact.clone().with_precision(precision);
            let what = format!("mixed precision, {name} LM, {}", precision.name());
            checks.push(Check::new(
                format!("{what}: loss against f32"),
                &loss(&mixed)?,
                &exact_loss,
                TOLERANCE_MIXED,
            ));
            let gradient = whole_gradient(&mixed, &whole, device)?;
            let check = Check::new(
                format!("{what}: parameter gradients against f32"),
                &gradient,
                &reference,
                TOLERANCE_MIXED,
            );
            checks.push(Check {
                what: format!(
                    "{what}: the gradients differ from f32's (by {:.1e}, at least {CONTROL_MIN:.0e})",
                    check.error
                ),
                error: if check.error > CONTROL_MIN { 0.0 } else { 1.0 },
                tolerance: 0.0,
            });
            checks.push(check);
            checks.push(Check::new(
                format!("{what}: logits in two chunks against one pass"),
                &host_logits(&mixed, &whole, Some(len / 2 + 1), device)?,
                &host_logits(&mixed, &whole, None, device)?,
                TOLERANCE_BF16,
            ));
            checks.push(Check::new(
                format!("{what}: gradients on 2 ranks by sequence against 1"),
                &split_gradient(&mixed, &whole, 2, device, true)?,
                &gradient,
                TOLERANCE_MIXED,
            ));
        }
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
    fn bf16_and_f16_models_match_f32_to_their_rounding_and_carry_their_state() {
        let checks = mixed_precision_checks::<B>(&Default::default()).unwrap();
        assert_eq!(checks.len(), 20);
        for check in checks {
            assert!(check.passed(), "{check}");
        }
    }
}
