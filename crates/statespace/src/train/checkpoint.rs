//! Training checkpoints: one safetensors file with the model's parameters
//! (`model.<name>`), the optimiser's moments (`optim.m.<name>`,
//! `optim.v.<name>`) and, as metadata, the step and the resolved config.
//! Written atomically. A run's `last` checkpoint holds all of it, to resume
//! from; its `best` holds the model alone ([`save_model`]), a third of the
//! size, since it is only evaluated and sampled from.

use std::collections::HashMap;
use std::path::Path;

use burn::module::{Module, ModuleVisitor, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use safetensors::tensor::TensorView;

use super::optim::{AdamW, Moments};
use crate::error::{Error, Result};
use crate::io::state_dict::Path as ParamPath;
use crate::io::{HostTensor, SafetensorsFile, load_params, write_atomic};

const FORMAT: &str = "statespace-train-1";

struct Collector {
    path: ParamPath,
    tensors: Vec<(String, HostTensor<f64>)>,
}

impl<B: Backend> ModuleVisitor<B> for Collector {
    fn enter_module(&mut self, name: &str, container: &str) {
        self.path.enter(name, container);
    }
    fn exit_module(&mut self, _: &str, _: &str) {
        self.path.exit();
    }
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<B, D>>) {
        self.tensors
            .push((self.path.name(), HostTensor::from_tensor(&param.val())));
    }
}

/// Every parameter of `module` by name, on the host.
pub fn named_params<B: Backend, M: Module<B>>(module: &M) -> Vec<(String, HostTensor<f64>)> {
    let mut c = Collector {
        path: ParamPath::default(),
        tensors: Vec::new(),
    };
    module.visit(&mut c);
    c.tensors
}

/// Serialises named f32 tensors and metadata to safetensors bytes.
fn serialize(
    tensors: &[(String, HostTensor<f64>)],
    metadata: HashMap<String, String>,
) -> Result<Vec<u8>> {
    let bytes: Vec<(String, Vec<usize>, Vec<u8>)> = tensors
        .iter()
        .map(|(n, t)| {
            (
                n.clone(),
                t.shape.clone(),
                t.data
                    .iter()
                    .flat_map(|&x| (x as f32).to_le_bytes())
                    .collect(),
            )
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = bytes
        .iter()
        .map(|(n, shape, b)| {
            let view =
                TensorView::new(safetensors::Dtype::F32, shape.clone(), b).expect("sizes agree");
            (n.clone(), view)
        })
        .collect();
    safetensors::serialize(views, Some(metadata))
        .map_err(|e| Error::config("checkpoint", format!("serialising: {e}")))
}

/// Saves `module`, the optimiser and `step` to `path` (atomically).
pub fn save<B: Backend, M: Module<B>, O: Backend>(
    path: &Path,
    module: &M,
    optim: &AdamW<O>,
    step: u64,
    config_toml: &str,
) -> Result<()> {
    let mut tensors = model_tensors::<B, M>(module);
    for (name, m) in &optim.moments {
        tensors.push((format!("optim.m.{name}"), HostTensor::from_tensor(&m.m)));
        tensors.push((format!("optim.v.{name}"), HostTensor::from_tensor(&m.v)));
    }
    let mut metadata = metadata(step, config_toml);
    metadata.insert("optim_step".to_string(), optim.step.to_string());
    if let Some(scale) = optim.loss_scale {
        metadata.insert("loss_scale".to_string(), scale.scale.to_string());
        metadata.insert(
            "loss_scale_good_steps".to_string(),
            scale.good_steps.to_string(),
        );
    }
    write_atomic(path, &serialize(&tensors, metadata)?)
}

/// Saves `module` and `step` alone to `path` (atomically): a checkpoint to
/// evaluate or sample from, not to resume ([`load_optim`] refuses it).
pub fn save_model<B: Backend, M: Module<B>>(
    path: &Path,
    module: &M,
    step: u64,
    config_toml: &str,
) -> Result<()> {
    let tensors = model_tensors::<B, M>(module);
    write_atomic(path, &serialize(&tensors, metadata(step, config_toml))?)
}

/// The parameters of `module` named `model.<name>`.
fn model_tensors<B: Backend, M: Module<B>>(module: &M) -> Vec<(String, HostTensor<f64>)> {
    named_params::<B, M>(module)
        .into_iter()
        .map(|(n, t)| (format!("model.{n}"), t))
        .collect()
}

/// The metadata every checkpoint carries: format, step and config.
fn metadata(step: u64, config_toml: &str) -> HashMap<String, String> {
    HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("step".to_string(), step.to_string()),
        ("config".to_string(), config_toml.to_string()),
    ])
}

/// What a checkpoint holds besides the tensors.
pub struct CheckpointInfo {
    /// Training step it was taken at.
    pub step: u64,
    /// The run's resolved config (TOML).
    pub config: String,
}

/// Reads the metadata of a checkpoint.
pub fn info(path: &Path) -> Result<CheckpointInfo> {
    let file = SafetensorsFile::open(path)?;
    let meta: HashMap<String, String> = file.metadata().into_iter().collect();
    let bad = |m: &str| Error::Format {
        path: path.to_path_buf(),
        message: m.to_string(),
    };
    if meta.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(bad("not a statespace training checkpoint"));
    }
    Ok(CheckpointInfo {
        step: meta
            .get("step")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad("no step"))?,
        config: meta
            .get("config")
            .cloned()
            .ok_or_else(|| bad("no config"))?,
    })
}

/// Loads the model parameters of a checkpoint into `module`.
pub fn load_model<B: Backend, M: Module<B>>(path: &Path, module: M) -> Result<M> {
    let file = SafetensorsFile::open(path)?;
    load_params(module, |name| file.f64(&format!("model.{name}")))
}

/// Loads the optimiser state of a checkpoint.
pub fn load_optim<B: Backend>(path: &Path, optim: &mut AdamW<B>, device: &B::Device) -> Result<()> {
    let file = SafetensorsFile::open(path)?;
    let meta: HashMap<String, String> = file.metadata().into_iter().collect();
    optim.step = meta
        .get("optim_step")
        .ok_or_else(|| Error::Format {
            path: path.to_path_buf(),
            message: "no optimiser state (a `best` checkpoint holds the model alone; \
                      resume from `last`)"
                .to_string(),
        })?
        .parse()
        .map_err(|_| Error::Format {
            path: path.to_path_buf(),
            message: "`optim_step` is not a number".to_string(),
        })?;
    if let Some(scale) = &mut optim.loss_scale {
        let field = |key: &str| {
            meta.get(key).ok_or_else(|| Error::Format {
                path: path.to_path_buf(),
                message: format!("an f16 run's checkpoint without `{key}`"),
            })
        };
        let bad = |key: &str| Error::Format {
            path: path.to_path_buf(),
            message: format!("`{key}` is not a number"),
        };
        scale.scale = field("loss_scale")?
            .parse::<f64>()
            .ok()
            .filter(|s| s.is_finite() && *s > 0.0)
            .ok_or_else(|| bad("loss_scale"))?;
        scale.good_steps = field("loss_scale_good_steps")?
            .parse()
            .map_err(|_| bad("loss_scale_good_steps"))?;
    }
    optim.moments.clear();
    for name in file.names() {
        let Some(param) = name.strip_prefix("optim.m.") else {
            continue;
        };
        let m = file.f64(&name)?;
        let v = file.f64(&format!("optim.v.{param}"))?;
        let dtype = burn::tensor::DType::F32;
        optim.moments.insert(
            param.to_string(),
            Moments {
                m: m.to_tensor::<B, 1>(&name, device, dtype)?,
                v: v.to_tensor::<B, 1>(&name, device, dtype)?,
            },
        );
    }
    Ok(())
}
