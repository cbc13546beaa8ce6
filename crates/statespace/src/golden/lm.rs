//! Golden cases `hf_mamba*_io`: transformers' `MambaForCausalLM` /
//! `Mamba2ForCausalLM` logits and greedy continuation, for the same weights
//! in both checkpoint layouts (folders `hf_*` and `native_*`).

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
