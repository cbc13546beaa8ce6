//! Pretrained language models from a checkpoint folder in either layout
//! (the files themselves are read by [`crate::io`]):
//!
//! - Hugging Face transformers (`MambaForCausalLM`, `Mamba2ForCausalLM`):
//!   `config.json` with `model_type`, `hidden_size`, `state_size`, …, and
//!   `model.safetensors` (or sharded with `model.safetensors.index.json`);
//! - state-spaces/mamba (mamba_ssm): `config.json` with `d_model`,
//!   `n_layer`, `ssm_cfg` (`layer` Mamba1, Mamba2 or Mamba3), …, and `pytorch_model.bin` (torch zip pickle) or
//!   `model.safetensors`.
//!
//! Weights may be f32, bf16 or f16; they are converted to the device's
//! float type. Config quirks of real checkpoints are accepted: Infinity in
//! `time_step_limit` written bare or as `{"__float__": "Infinity"}`, and the
//! vocabulary padded to `pad_vocab_size_multiple`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use burn::tensor::backend::Backend;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::io::pytorch::PyTorchFile;
use crate::io::safetensors::{HostTensor, SafetensorsFile};
use crate::io::state_dict::load_params;
use crate::layers::mamba::MambaConfig;
use crate::layers::mamba2::Mamba2Config;
use crate::layers::mamba3::Mamba3Config;
use crate::models::{LanguageModel, LmConfig, MixerConfig};

/// Which layout a checkpoint folder uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// transformers' `Mamba(2)ForCausalLM`.
    HuggingFace,
    /// state-spaces/mamba's `MambaLMHeadModel`.
    StateSpaces,
}

impl std::fmt::Display for Layout {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Layout::HuggingFace => "Hugging Face transformers",
            Layout::StateSpaces => "state-spaces/mamba",
        })
    }
}

/// A model read from a checkpoint folder.
pub struct Checkpoint<B: Backend> {
    /// The model with every parameter loaded.
    pub model: LanguageModel<B>,
    /// Its configuration.
    pub config: LmConfig,
    /// The folder's layout.
    pub layout: Layout,
    /// The vocabulary before padding (the tokenizer's size), if known.
    pub vocab_size: usize,
}

/// Parses JSON that may contain bare `Infinity`, `-Infinity` or `NaN`
/// (Python's json.dump writes them) by quoting those tokens first.
fn parse_json_lenient(text: &str) -> std::result::Result<Value, serde_json::Error> {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    let mut rest = text;
    while let Some(ch) = rest.chars().next() {
        if in_string {
            out.push(ch);
            if escaped {
                escaped = false;
            } else if ch == '\\' {
                escaped = true;
            } else if ch == '"' {
                in_string = false;
            }
            rest = &rest[ch.len_utf8()..];
            continue;
        }
        if ch == '"' {
            in_string = true;
        }
        let token = ["-Infinity", "Infinity", "NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t));
        if let Some(t) = token {
            out.push('"');
            out.push_str(t);
            out.push('"');
            rest = &rest[t.len()..];
        } else {
            out.push(ch);
            rest = &rest[ch.len_utf8()..];
        }
    }
    serde_json::from_str(&out)
}

/// Typed access to config.json with errors naming the file and key.
struct ConfigReader<'a> {
    path: &'a Path,
    value: &'a Value,
}

impl ConfigReader<'_> {
    fn bad(&self, key: &str, what: &str) -> Error {
        Error::Config {
            key: key.to_string(),
            message: format!("{what} in {}", self.path.display()),
        }
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.value.get(key).filter(|v| !v.is_null())
    }

    fn usize(&self, key: &str) -> Result<usize> {
        self.get(key)
            .ok_or_else(|| self.bad(key, "missing"))?
            .as_u64()
            .map(|v| v as usize)
            .ok_or_else(|| self.bad(key, "expected a non-negative integer"))
    }

    fn usize_or(&self, key: &str, default: usize) -> Result<usize> {
        if self.get(key).is_some() {
            self.usize(key)
        } else {
            Ok(default)
        }
    }

    fn bool_or(&self, key: &str, default: bool) -> Result<bool> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .as_bool()
                .ok_or_else(|| self.bad(key, "expected true or false")),
        }
    }

    fn f64_or(&self, key: &str, default: f64) -> Result<f64> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => float_value(v).ok_or_else(|| self.bad(key, "expected a number")),
        }
    }

    fn sub(&self, key: &str) -> Result<ConfigReader<'_>> {
        let value = self.get(key).ok_or_else(|| self.bad(key, "missing"))?;
        if !value.is_object() {
            return Err(self.bad(key, "expected an object"));
        }
        Ok(ConfigReader {
            path: self.path,
            value,
        })
    }
}

/// A float written as a number, as "Infinity"/"-Infinity"/"NaN", or as
/// `{"__float__": "Infinity"}`.
fn float_value(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "Infinity" | "inf" => Some(f64::INFINITY),
            "-Infinity" | "-inf" => Some(f64::NEG_INFINITY),
            "NaN" | "nan" => Some(f64::NAN),
            other => other.parse().ok(),
        },
        Value::Object(map) => map.get("__float__").and_then(float_value),
        _ => None,
    }
}

fn hf_config(r: &ConfigReader<'_>) -> Result<LmConfig> {
    let model_type = r.get("model_type").and_then(Value::as_str).unwrap_or("");
    let d_model = r.usize("hidden_size")?;
    let d_state = r.usize("state_size")?;
    let expand = r.usize_or("expand", 2)?;
    let mixer = match model_type {
        "mamba" => MixerConfig::Mamba(MambaConfig {
            d_model,
            d_state,
            d_conv: r.usize_or("conv_kernel", 4)?,
            expand,
            dt_rank: match r.get("time_step_rank") {
                Some(Value::String(s)) if s == "auto" => None,
                Some(_) => Some(r.usize("time_step_rank")?),
                None => None,
            },
            conv_bias: r.bool_or("use_conv_bias", true)?,
            bias: r.bool_or("use_bias", false)?,
            ..MambaConfig::default()
        }),
        "mamba2" => {
            let limit = match r.get("time_step_limit") {
                None => (0.0, f64::INFINITY),
                Some(Value::Array(items)) if items.len() == 2 => {
                    let lo = float_value(&items[0])
                        .ok_or_else(|| r.bad("time_step_limit", "expected two numbers"))?;
                    let hi = float_value(&items[1])
                        .ok_or_else(|| r.bad("time_step_limit", "expected two numbers"))?;
                    (lo, hi)
                }
                Some(_) => return Err(r.bad("time_step_limit", "expected [min, max]")),
            };
            let headdim = r.usize_or("head_dim", 64)?;
            let config = Mamba2Config {
                d_model,
                d_state,
                d_conv: r.usize_or("conv_kernel", 4)?,
                expand,
                headdim,
                ngroups: r.usize_or("n_groups", 1)?,
                chunk_size: r.usize_or("chunk_size", 256)?,
                rmsnorm: r.bool_or("rms_norm", true)?,
                // transformers gates before normalising; from 5.24 it takes the
                // mean square per group of d_inner/n_groups channels, as
                // mamba_ssm does (and as the gated norm here always does;
                // earlier versions normalised over all of d_inner).
                norm_before_gate: false,
                norm_eps: r.f64_or("layer_norm_epsilon", 1e-5)?,
                dt_limit: limit,
                conv_bias: r.bool_or("use_conv_bias", true)?,
                bias: r.bool_or("use_bias", false)?,
                ..Mamba2Config::default()
            };
            if let Some(heads) = r.get("num_heads") {
                let heads = heads
                    .as_u64()
                    .ok_or_else(|| r.bad("num_heads", "expected an integer"))?
                    as usize;
                if heads != config.nheads() {
                    return Err(r.bad(
                        "num_heads",
                        &format!(
                            "{heads} heads disagree with expand·hidden_size/head_dim = {}",
                            config.nheads()
                        ),
                    ));
                }
            }
            MixerConfig::Mamba2(config)
        }
        other => {
            return Err(r.bad(
                "model_type",
                &format!("`{other}` is not a Mamba model (expected mamba or mamba2)"),
            ));
        }
    };
    Ok(LmConfig {
        vocab_size: r.usize("vocab_size")?,
        n_layer: r.usize("num_hidden_layers")?,
        mixer,
        norm_eps: r.f64_or("layer_norm_epsilon", 1e-5)?,
        // transformers' default differs: tied for Mamba, untied for Mamba-2.
        tie_embeddings: r.bool_or("tie_word_embeddings", model_type == "mamba")?,
    })
}

fn native_config(r: &ConfigReader<'_>) -> Result<(LmConfig, usize)> {
    let d_model = r.usize("d_model")?;
    let vocab = r.usize("vocab_size")?;
    let multiple = r.usize_or("pad_vocab_size_multiple", 1)?.max(1);
    if r.usize_or("d_intermediate", 0)? != 0 {
        return Err(r.bad(
            "d_intermediate",
            "MLP blocks between mixers are not supported",
        ));
    }
    if r.get("attn_layer_idx")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
    {
        return Err(r.bad(
            "attn_layer_idx",
            "hybrid attention layers are not supported",
        ));
    }
    if !r.bool_or("rms_norm", true)? {
        return Err(r.bad(
            "rms_norm",
            "LayerNorm blocks are not supported (rms_norm must be true)",
        ));
    }
    let ssm = r.sub("ssm_cfg")?;
    let layer = ssm.get("layer").and_then(Value::as_str).unwrap_or("Mamba1");
    let mixer = match layer {
        "Mamba1" => MixerConfig::Mamba(MambaConfig {
            d_model,
            d_state: ssm.usize_or("d_state", 16)?,
            d_conv: ssm.usize_or("d_conv", 4)?,
            expand: ssm.usize_or("expand", 2)?,
            dt_rank: match ssm.get("dt_rank") {
                Some(Value::String(s)) if s == "auto" => None,
                Some(_) => Some(ssm.usize("dt_rank")?),
                None => None,
            },
            conv_bias: ssm.bool_or("conv_bias", true)?,
            bias: ssm.bool_or("bias", false)?,
            ..MambaConfig::default()
        }),
        "Mamba2" => MixerConfig::Mamba2(Mamba2Config {
            d_model,
            d_state: ssm.usize_or("d_state", 128)?,
            d_conv: ssm.usize_or("d_conv", 4)?,
            expand: ssm.usize_or("expand", 2)?,
            headdim: ssm.usize_or("headdim", 64)?,
            ngroups: ssm.usize_or("ngroups", 1)?,
            chunk_size: ssm.usize_or("chunk_size", 256)?,
            rmsnorm: ssm.bool_or("rmsnorm", true)?,
            norm_before_gate: ssm.bool_or("norm_before_gate", false)?,
            conv_bias: ssm.bool_or("conv_bias", true)?,
            bias: ssm.bool_or("bias", false)?,
            ..Mamba2Config::default()
        }),
        // `fuse_pregate_headwise_norm` picks a kernel fusion; the result
        // does not depend on it.
        "Mamba3" => MixerConfig::Mamba3(Mamba3Config {
            d_model,
            d_state: ssm.usize_or("d_state", 128)?,
            expand: ssm.usize_or("expand", 2)?,
            headdim: ssm.usize_or("headdim", 64)?,
            ngroups: ssm.usize_or("ngroups", 1)?,
            rope_fraction: ssm.f64_or("rope_fraction", 0.5)?,
            A_floor: ssm.f64_or("A_floor", 1e-4)?,
            is_outproj_norm: ssm.bool_or("is_outproj_norm", false)?,
            is_mimo: ssm.bool_or("is_mimo", false)?,
            mimo_rank: ssm.usize_or("mimo_rank", 4)?,
            chunk_size: ssm.usize_or("chunk_size", 64)?,
            ..Mamba3Config::default()
        }),
        other => {
            return Err(ssm.bad(
                "layer",
                &format!("unknown mixer `{other}` (expected Mamba1, Mamba2 or Mamba3)"),
            ));
        }
    };
    let padded = vocab
        .div_ceil(multiple)
        .checked_mul(multiple)
        .ok_or_else(|| {
            r.bad(
                "vocab_size",
                "padded to pad_vocab_size_multiple, it overflows",
            )
        })?;
    Ok((
        LmConfig {
            vocab_size: padded,
            n_layer: r.usize("n_layer")?,
            mixer,
            norm_eps: 1e-5,
            tie_embeddings: r.bool_or("tie_embeddings", true)?,
        },
        vocab,
    ))
}

/// The tensors of a checkpoint, from whichever files the folder holds.
enum Tensors {
    Safetensors(Vec<SafetensorsFile>, HashMap<String, usize>),
    PyTorch(Vec<PyTorchFile>, HashMap<String, usize>),
}

impl Tensors {
    fn open(dir: &Path) -> Result<Self> {
        let single = dir.join("model.safetensors");
        let index = dir.join("model.safetensors.index.json");
        let bin = dir.join("pytorch_model.bin");
        let bin_index = dir.join("pytorch_model.bin.index.json");
        if single.is_file() {
            let file = SafetensorsFile::open(&single)?;
            let names = file.names().into_iter().map(|n| (n, 0)).collect();
            Ok(Tensors::Safetensors(vec![file], names))
        } else if index.is_file() {
            let (files, map) = shards(&index)?;
            Ok(Tensors::Safetensors(
                files
                    .iter()
                    .map(SafetensorsFile::open)
                    .collect::<Result<_>>()?,
                map,
            ))
        } else if bin.is_file() {
            let file = PyTorchFile::open(&bin)?;
            let names = file.names().iter().map(|n| (n.clone(), 0)).collect();
            Ok(Tensors::PyTorch(vec![file], names))
        } else if bin_index.is_file() {
            let (files, map) = shards(&bin_index)?;
            Ok(Tensors::PyTorch(
                files.iter().map(PyTorchFile::open).collect::<Result<_>>()?,
                map,
            ))
        } else {
            Err(Error::Format {
                path: dir.to_path_buf(),
                message: "no weights: expected model.safetensors, model.safetensors.index.json or pytorch_model.bin".into(),
            })
        }
    }

    fn contains(&self, name: &str) -> bool {
        match self {
            Tensors::Safetensors(_, m) | Tensors::PyTorch(_, m) => m.contains_key(name),
        }
    }

    /// Every tensor name the checkpoint holds.
    fn names(&self) -> Vec<String> {
        match self {
            Tensors::Safetensors(_, m) | Tensors::PyTorch(_, m) => m.keys().cloned().collect(),
        }
    }

    /// The elements of all tensors, in checked arithmetic; each tensor's
    /// count is bounded by the bytes its file holds.
    fn total_elements(&mut self, dir: &Path) -> Result<usize> {
        let names = self.names();
        let mut total = 0usize;
        for name in names {
            let numel = match self {
                Tensors::Safetensors(files, map) => files[map[&name]]
                    .shape(&name)?
                    .iter()
                    .try_fold(1usize, |n, &d| n.checked_mul(d)),
                Tensors::PyTorch(files, map) => Some(files[map[&name]].numel(&name)?),
            };
            total = numel
                .and_then(|n| total.checked_add(n))
                .ok_or_else(|| Error::Format {
                    path: dir.to_path_buf(),
                    message: format!("tensor `{name}`: element counts overflow"),
                })?;
        }
        Ok(total)
    }

    fn get(&mut self, name: &str, dir: &Path) -> Result<HostTensor<f64>> {
        let missing = || Error::MissingTensor {
            name: name.to_string(),
            source_name: dir.display().to_string(),
        };
        match self {
            Tensors::Safetensors(files, map) => {
                files[*map.get(name).ok_or_else(missing)?].f64(name)
            }
            Tensors::PyTorch(files, map) => {
                let i = *map.get(name).ok_or_else(missing)?;
                files[i].f64(name)
            }
        }
    }
}

/// Shard files and the name → shard map of an `*.index.json`.
fn shards(index: &Path) -> Result<(Vec<PathBuf>, HashMap<String, usize>)> {
    let text = std::fs::read_to_string(index).map_err(|source| Error::Io {
        path: index.to_path_buf(),
        source,
    })?;
    let value: Value = serde_json::from_str(&text).map_err(|e| Error::Format {
        path: index.to_path_buf(),
        message: format!("invalid JSON: {e}"),
    })?;
    let map = value
        .get("weight_map")
        .and_then(Value::as_object)
        .ok_or_else(|| Error::Format {
            path: index.to_path_buf(),
            message: "no weight_map".into(),
        })?;
    let dir = index.parent().unwrap_or(Path::new("."));
    let mut files: Vec<PathBuf> = Vec::new();
    let mut names = HashMap::new();
    for (name, file) in map {
        let file = file.as_str().ok_or_else(|| Error::Format {
            path: index.to_path_buf(),
            message: format!("weight_map entry for `{name}` is not a file name"),
        })?;
        // Shards live beside the index: a bare file name, never a path.
        if file.is_empty() || file.contains(['/', '\\']) || file == ".." || file == "." {
            return Err(Error::Format {
                path: index.to_path_buf(),
                message: format!("weight_map entry for `{name}` is not a file name: `{file}`"),
            });
        }
        let path = dir.join(file);
        let i = match files.iter().position(|f| *f == path) {
            Some(i) => i,
            None => {
                files.push(path);
                files.len() - 1
            }
        };
        names.insert(name.clone(), i);
    }
    Ok((files, names))
}

/// Reads `dir/config.json` and detects the layout (see [`parse_config`]).
pub fn read_config(dir: &Path) -> Result<(LmConfig, Layout, usize)> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    parse_config(&text, &path)
}

/// The model configuration, layout and tokenizer vocabulary of a
/// `config.json` text in either layout (`path` names it in errors). The
/// configuration is not validated here: [`load`] validates it against the
/// weights.
pub fn parse_config(text: &str, path: &Path) -> Result<(LmConfig, Layout, usize)> {
    let path = path.to_path_buf();
    let value = parse_json_lenient(text).map_err(|e| Error::Format {
        path: path.clone(),
        message: format!("invalid JSON: {e}"),
    })?;
    let reader = ConfigReader {
        path: &path,
        value: &value,
    };
    if value.get("ssm_cfg").is_some() && value.get("d_model").is_some() {
        let (config, vocab) = native_config(&reader)?;
        Ok((config, Layout::StateSpaces, vocab))
    } else if value.get("model_type").is_some() || value.get("hidden_size").is_some() {
        let config = hf_config(&reader)?;
        let vocab = config.vocab_size;
        Ok((config, Layout::HuggingFace, vocab))
    } else {
        Err(Error::Format {
            path,
            message: "neither a Hugging Face config (model_type, hidden_size) nor a state-spaces/mamba one (d_model, ssm_cfg)"
                .into(),
        })
    }
}

/// The checkpoint name of our parameter `name` in `layout`.
fn file_name(layout: Layout, name: &str) -> String {
    if name.starts_with("lm_head.") {
        return name.to_string();
    }
    match layout {
        Layout::HuggingFace => format!("backbone.{name}"),
        Layout::StateSpaces => {
            format!("backbone.{}", name.replacen("embeddings.", "embedding.", 1))
        }
    }
}

/// Loads the model in folder `dir` onto `device`.
///
/// Before anything is allocated, the config is validated and the parameter
/// count it implies is compared with the elements the weights hold (a
/// config asking for more than the checkpoint stores is an error, as is one
/// that does not fit in memory); after loading, a tensor the model did not
/// take is an error too (a config with fewer layers than the checkpoint
/// would silently drop weights). A tied model may store its head if it
/// equals the embeddings.
pub fn load<B: crate::ops::SsmBackend>(dir: &Path, device: &B::Device) -> Result<Checkpoint<B>> {
    let (mut config, layout, vocab_size) = read_config(dir)?;
    let mut tensors = Tensors::open(dir)?;
    // A checkpoint that stores no head is tied whatever its config says.
    if !tensors.contains("lm_head.weight") {
        config.tie_embeddings = true;
    }
    config.validate()?;
    let expected = config.param_count()?;
    let stored = tensors.total_elements(dir)?;
    if expected > stored {
        return Err(Error::Format {
            path: dir.join("config.json"),
            message: format!(
                "the config implies {expected} parameters but the weights hold {stored} elements"
            ),
        });
    }
    crate::size::check_fits(
        "the model",
        "config.json",
        (expected as u128) * (std::mem::size_of::<f32>() as u128),
    )?;
    let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(0);
    let model = config.init::<B>(device, &mut rng)?;
    let mut used = std::collections::HashSet::new();
    let model = load_params(model, |name| {
        let stored = file_name(layout, name);
        used.insert(stored.clone());
        tensors.get(&stored, dir)
    })?;
    let mut unused: Vec<String> = tensors
        .names()
        .into_iter()
        .filter(|n| !used.contains(n))
        .collect();
    unused.sort();
    let stored_head = unused.iter().position(|n| n == "lm_head.weight");
    if let (true, Some(at)) = (config.tie_embeddings, stored_head) {
        let head = tensors.get("lm_head.weight", dir)?;
        let embeddings = tensors.get(&file_name(layout, "embeddings.weight"), dir)?;
        if head != embeddings {
            return Err(Error::Format {
                path: dir.to_path_buf(),
                message: "the config ties the head to the embeddings, but lm_head.weight differs \
                          from them"
                    .into(),
            });
        }
        unused.remove(at);
    }
    if !unused.is_empty() {
        let shown: Vec<&str> = unused.iter().take(5).map(String::as_str).collect();
        return Err(Error::Format {
            path: dir.to_path_buf(),
            message: format!(
                "{} tensors are not used by the model the config describes (e.g. {}): \
                 the config does not match the weights",
                unused.len(),
                shown.join(", ")
            ),
        });
    }
    Ok(Checkpoint {
        model,
        config,
        layout,
        vocab_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lenient_json_reads_bare_and_wrapped_infinity() {
        let v = parse_json_lenient(r#"{"a": [0.0, Infinity], "b": {"__float__": "Infinity"}, "s": "Infinity x", "n": -Infinity}"#)
            .unwrap();
        assert_eq!(float_value(&v["a"][1]), Some(f64::INFINITY));
        assert_eq!(float_value(&v["b"]), Some(f64::INFINITY));
        assert_eq!(v["s"], "Infinity x");
        assert_eq!(float_value(&v["n"]), Some(f64::NEG_INFINITY));
    }
}
