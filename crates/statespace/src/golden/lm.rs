//! Golden cases `hf_mamba*_io`: transformers' `MambaForCausalLM` /
//! `Mamba2ForCausalLM` logits, the perplexity they give `input_ids` and
//! the greedy continuation, for the same weights in both checkpoint
//! layouts (folders `hf_*` and `native_*`).

use std::path::Path;

use burn::tensor::{Int, Tensor, TensorData};

use super::Check;
use crate::error::{Error, Result};
use crate::generate::{Generator, Sampling};
use crate::io::{HostTensor, SafetensorsFile};
use crate::models::LanguageModel;
use crate::models::pretrained::load;
use crate::ops::SsmBackend;

/// f32 logits must match to this norm-relative error.
pub const TOLERANCE: f64 = 1e-4;

/// Greedy decoding as `ssm generate` runs it: the prompt is prefilled in
/// one parallel pass, then each new token is one recurrent step (fused on
/// the CPU). Returns prompt + `new` tokens.
pub fn greedy<B: SsmBackend>(
    model: &LanguageModel<B>,
    prompt: &[i64],
    new: usize,
    device: &B::Device,
) -> Result<Vec<i64>> {
    let mut generator = Generator::new(
        model,
        prompt,
        Sampling::default(),
        prompt.len().max(1),
        device,
    )?;
    for _ in 0..new {
        generator.next_token()?;
    }
    Ok(generator.tokens().to_vec())
}

/// The two checkpoint folders of an I/O case (`hf_mamba_io` → `hf_mamba`, `native_mamba`).
pub fn folders(case: &str) -> Vec<String> {
    let hf = case.trim_end_matches("_io").to_string();
    let native = hf.replacen("hf_", "native_", 1);
    vec![hf, native]
}

/// Logits of `input_ids` and the greedy continuation, for each layout folder.
pub fn check_case<B: SsmBackend>(
    dir: &Path,
    case: &str,
    file: &SafetensorsFile,
    device: &B::Device,
) -> Result<Vec<Check>> {
    let ids = file.i64("input_ids")?;
    let expected = file.f64("logits_f32")?;
    let prompt = file.i64("greedy_prompt")?.data;
    let reference = file.i64("greedy_output")?.data;
    let mut checks = Vec::new();
    for folder in folders(case) {
        let path = dir.join(&folder);
        if !path.is_dir() {
            return Err(Error::Format {
                path,
                message: format!("checkpoint folder of golden case {case} missing"),
            });
        }
        let ckpt = load::<B>(&path, device)?;
        let tokens = Tensor::<B, 2, Int>::from_data(
            TensorData::new(ids.data.clone(), ids.shape.clone()),
            device,
        );
        let logits = ckpt.model.forward(tokens)?;
        checks.push(Check::new(
            format!("{case} [{folder}, {}]: logits", ckpt.layout),
            &HostTensor::from_tensor(&logits).data,
            &expected.data,
            TOLERANCE,
        ));
        checks.push(perplexity_check(case, &folder, &ckpt.model, &ids, file)?);
        let new_tokens =
            reference
                .len()
                .checked_sub(prompt.len())
                .ok_or_else(|| Error::Format {
                    path: file.path().to_path_buf(),
                    message: "greedy_output is shorter than greedy_prompt".into(),
                })?;
        let ours = greedy(&ckpt.model, &prompt, new_tokens, device)?;
        // A position present on one side only counts as a mismatch.
        let mismatches = ours.iter().zip(&reference).filter(|(a, b)| a != b).count()
            + ours.len().abs_diff(reference.len());
        checks.push(Check {
            what: format!("{case} [{folder}]: greedy tokens differing from reference ({ours:?})"),
            error: mismatches as f64,
            tolerance: 0.0,
        });
    }
    Ok(checks)
}

/// Tokens per chunk of the perplexity check: small, so that the state is
/// carried across several chunks of each row.
const PERPLEXITY_CHUNK: usize = 3;

/// Next-token NLL of each row of `input_ids` (nats per token) as
/// [`LanguageModel::sequence_nll`] reads it in chunks, against the NLL
/// transformers' f64 logits give (log-softmax over every row of its head).
fn perplexity_check<B: SsmBackend>(
    case: &str,
    folder: &str,
    model: &LanguageModel<B>,
    ids: &HostTensor<i64>,
    file: &SafetensorsFile,
) -> Result<Check> {
    let logits = file.f64("logits_f64")?;
    let (&len, &vocab) = match (ids.shape.last(), logits.shape.last()) {
        (Some(len), Some(vocab)) if *len >= 2 => (len, vocab),
        _ => {
            return Err(Error::Format {
                path: file.path().to_path_buf(),
                message:
                    "input_ids needs rows of at least 2 tokens and logits_f64 a vocabulary axis"
                        .into(),
            });
        }
    };
    let rows = ids.data.len() / len;
    if logits.data.len() != rows * len * vocab {
        return Err(Error::Format {
            path: file.path().to_path_buf(),
            message: format!(
                "logits_f64 holds {} values, not {rows} × {len} × {vocab}",
                logits.data.len()
            ),
        });
    }
    let (mut ours, mut reference) = (Vec::new(), Vec::new());
    for (b, row) in ids.data.chunks_exact(len).enumerate() {
        let (nats, targets) = model.sequence_nll(row, PERPLEXITY_CHUNK)?;
        ours.push(nats / targets as f64);
        let mut total = 0.0;
        for t in 0..len - 1 {
            let z = &logits.data[(b * len + t) * vocab..][..vocab];
            let max = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let log_sum = max + z.iter().map(|v| (v - max).exp()).sum::<f64>().ln();
            let target = usize::try_from(row[t + 1])
                .ok()
                .filter(|&i| i < vocab)
                .ok_or_else(|| Error::Format {
                    path: file.path().to_path_buf(),
                    message: format!(
                        "input_ids holds {} outside the vocabulary ({vocab})",
                        row[t + 1]
                    ),
                })?;
            total += log_sum - z[target];
        }
        reference.push(total / (len - 1) as f64);
    }
    Ok(Check::new(
        format!(
            "{case} [{folder}]: nats per token of input_ids, read {PERPLEXITY_CHUNK} tokens at a time"
        ),
        &ours,
        &reference,
        TOLERANCE,
    ))
}
