//! Golden cases `hf_mamba*_io`: transformers' `MambaForCausalLM` /
//! `Mamba2ForCausalLM` logits and greedy continuation, for the same weights
//! in both checkpoint layouts (folders `hf_*` and `native_*`).

use std::path::Path;

use burn::tensor::{Int, Tensor, TensorData};

use super::Check;
use crate::error::{Error, Result};
use crate::io::checkpoint::load;
use crate::io::{HostTensor, SafetensorsFile};
use crate::models::LanguageModel;
use crate::ops::SsmBackend;

/// f32 logits must match to this norm-relative error.
pub const TOLERANCE: f64 = 1e-4;

/// Greedy decoding in recurrent mode: the prompt (1, P) is prefilled in one
/// parallel pass, then each new token is one step. Returns prompt + `new`
/// tokens.
pub fn greedy<B: SsmBackend>(
    model: &LanguageModel<B>,
    prompt: &[i64],
    new: usize,
    device: &B::Device,
) -> Result<Vec<i64>> {
    let tokens =
        Tensor::<B, 2, Int>::from_data(TensorData::new(prompt.to_vec(), [1, prompt.len()]), device);
    let (logits, mut state) = model.forward_with_state(&model.initial_state(1)?, tokens)?;
    let mut out = prompt.to_vec();
    let mut last = logits.narrow(1, prompt.len() - 1, 1).squeeze_dim::<2>(1);
    for i in 0..new {
        let next = argmax(&last);
        out.push(next);
        if i + 1 == new {
            break;
        }
        let token = Tensor::<B, 1, Int>::from_data(TensorData::new(vec![next], [1]), device);
        let (logits, s) = model.step(&state, token)?;
        state = s;
        last = logits;
    }
    Ok(out)
}

fn argmax<B: SsmBackend>(logits: &Tensor<B, 2>) -> i64 {
    let row = HostTensor::from_tensor(logits).data;
    row.iter()
        .enumerate()
        .fold((0usize, f64::NEG_INFINITY), |(bi, bv), (i, &v)| {
            if v > bv { (i, v) } else { (bi, bv) }
        })
        .0 as i64
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
        let ours = greedy(&ckpt.model, &prompt, reference.len() - prompt.len(), device)?;
        let mismatches = ours.iter().zip(&reference).filter(|(a, b)| a != b).count();
        checks.push(Check {
            what: format!("{case} [{folder}]: greedy tokens differing from reference ({ours:?})"),
            error: mismatches as f64,
            tolerance: 0.0,
        });
    }
    Ok(checks)
}
