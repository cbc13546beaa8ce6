//! What the whole-layer golden cases (`hydra_*`, `mamba3_*`, `longconv_*`,
//! `hyena_*`, `h3_*`, `s5_*`) share: a case stores an input, an output, a
//! cotangent `grad_out`, every parameter under its state_dict name, the
//! gradients of Σ output · grad_out (`grad_<input>`, `grad_<name>`) and
//! possibly intermediate tensors (`aux_*`). [`CaseNames`] says which names
//! a family uses.

use burn::module::{AutodiffModule, Module};
use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{DType, Tensor};

use super::{Check, check_named};
use crate::error::{Error, Result};
use rand::SeedableRng;

use crate::io::{HostTensor, SafetensorsFile, cast_params, load_params, named_grads};

/// Tolerance of a layer run in f64 (the cases are float64).
pub const TOLERANCE_F64: f64 = 1e-9;
/// Tolerance of a layer run in f32 against the float64 case.
pub const TOLERANCE_F32: f64 = 1e-4;

/// A whole-layer case check (`hydra::check_case`, `mamba3::check_case`):
/// (case, file, manifest, dtype, tolerance, device) → checks.
pub type LayerCheck<B> = fn(
    &str,
    &SafetensorsFile,
    Option<&serde_json::Value>,
    DType,
    f64,
    &burn::tensor::Device<B>,
) -> Result<Vec<Check>>;

/// The tolerance that goes with running a float64 case in `dtype`.
pub fn tolerance_for(dtype: DType) -> f64 {
    if dtype == DType::F64 {
        TOLERANCE_F64
    } else {
        TOLERANCE_F32
    }
}

/// The case's `config` object in the manifest; an error naming the case
/// when there is none (sizes such as the group count cannot be read from
/// the shapes alone).
pub fn manifest_config<'a>(
    manifest: Option<&'a serde_json::Value>,
    case: &str,
    file: &SafetensorsFile,
) -> Result<&'a serde_json::Map<String, serde_json::Value>> {
    manifest
        .and_then(|m| m.get(case)?.get("config")?.as_object())
        .ok_or_else(|| Error::Format {
            path: file.path().to_path_buf(),
            message: format!("the manifest has no `config` for case {case}"),
        })
}

/// A case's manifest `config`, read key by key; an absent key reads as
/// null, and every error names the case and the key.
pub struct ConfigFields<'a> {
    case: &'a str,
    file: &'a SafetensorsFile,
    fields: &'a serde_json::Map<String, serde_json::Value>,
}

/// What an absent key reads as.
static NULL: serde_json::Value = serde_json::Value::Null;

impl<'a> ConfigFields<'a> {
    /// The case's `config`; fails as [`manifest_config`] does.
    pub fn of(
        manifest: Option<&'a serde_json::Value>,
        case: &'a str,
        file: &'a SafetensorsFile,
    ) -> Result<Self> {
        Ok(Self {
            case,
            file,
            fields: manifest_config(manifest, case, file)?,
        })
    }

    /// The value of `key` (null when absent).
    pub fn get(&self, key: &str) -> &'a serde_json::Value {
        self.fields.get(key).unwrap_or(&NULL)
    }

    /// The error for `key` and the reason `why`.
    pub fn bad(&self, key: &str, why: &str) -> Error {
        Error::Format {
            path: self.file.path().to_path_buf(),
            message: format!("manifest config of {}: `{key}` {why}", self.case),
        }
    }

    /// A boolean, `default` when absent.
    pub fn flag(&self, key: &str, default: bool) -> bool {
        self.get(key).as_bool().unwrap_or(default)
    }

    /// A number, `default` when absent.
    pub fn real(&self, key: &str, default: f64) -> f64 {
        self.get(key).as_f64().unwrap_or(default)
    }

    /// A count, `default` when absent.
    pub fn size_or(&self, key: &str, default: usize) -> usize {
        self.get(key).as_u64().map_or(default, |v| v as usize)
    }

    /// A count that must be present.
    pub fn size(&self, key: &str) -> Result<usize> {
        self.get(key)
            .as_u64()
            .map(|v| v as usize)
            .ok_or_else(|| self.bad(key, "missing"))
    }

    /// A string, if present.
    pub fn text(&self, key: &str) -> Option<&'a str> {
        self.get(key).as_str()
    }

    /// `key` deserialised (a name such as an activation), `default` when
    /// absent; an unknown value fails, naming the key.
    pub fn parse<T: serde::de::DeserializeOwned>(&self, key: &str, default: T) -> Result<T> {
        match self.get(key) {
            serde_json::Value::Null => Ok(default),
            v => serde_json::from_value(v.clone()).map_err(|e| self.bad(key, &e.to_string())),
        }
    }
}

/// How a family of cases names its tensors: the input and output, the
/// intermediate tensors it stores (`aux`), its parameters (`official`: the
/// file's name of our parameter); the cotangent is always `grad_out` and
/// the input's gradient `grad_<input>`.
#[derive(Clone, Copy)]
pub struct CaseNames {
    pub input: &'static str,
    pub output: &'static str,
    pub aux: &'static [&'static str],
    pub official: fn(&str) -> String,
}

/// mamba_ssm and goombalab/hydra cases: `u`, `out`, parameters by our
/// names.
pub const MAMBA_NAMES: CaseNames = CaseNames {
    input: "u",
    output: "out",
    aux: &[],
    official: str::to_string,
};

/// A layer built by `init` (from a fixed seed), its parameters stored as
/// `dtype` and every one loaded from the case by its name in the file
/// (`official`; a missing or misshaped tensor fails, naming it).
pub fn load_layer<B: Backend, M: Module<B>>(
    file: &SafetensorsFile,
    dtype: DType,
    official: fn(&str) -> String,
    init: impl FnOnce(&mut rand_chacha::ChaCha8Rng) -> Result<M>,
) -> Result<M> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    load_params(cast_params(init(&mut rng)?, dtype), |name| {
        file.f64(&official(name))
    })
}

/// Tensor `name` of the case as a rank-3 tensor stored as `dtype`.
pub fn input<B: AutodiffBackend>(
    file: &SafetensorsFile,
    name: &str,
    dtype: DType,
    device: &B::Device,
) -> Result<Tensor<B, 3>> {
    file.f64(name)?.to_tensor::<B, 3>(name, device, dtype)
}

/// Runs `forward` on the case's input and differentiates Σ output ·
/// grad_out; returns the output, the input's gradient and `grad_<name>`
/// for every parameter that received a gradient, named as the file names
/// them.
pub fn forward_and_gradients<B, M>(
    layer: &M,
    file: &SafetensorsFile,
    names: CaseNames,
    dtype: DType,
    device: &B::Device,
    forward: impl Fn(&M, Tensor<B, 3>) -> Result<Tensor<B, 3>>,
) -> Result<Vec<(String, Vec<f64>)>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    let u = input::<B>(file, names.input, dtype, device)?.require_grad();
    let out = forward(layer, u.clone())?;
    let mut ours = vec![(names.output.to_string(), HostTensor::from_tensor(&out).data)];
    let grad_out = input::<B>(file, "grad_out", dtype, device)?;
    let grads = (out * grad_out).sum().backward();
    if let Some(g) = u.grad(&grads) {
        ours.push((
            format!("grad_{}", names.input),
            HostTensor::from_tensor(&g).data,
        ));
    }
    let params = GradientsParams::from_grads(grads, layer);
    for (name, grad) in named_grads::<B, M>(layer, &params) {
        ours.push((format!("grad_{}", (names.official)(&name)), grad.data));
    }
    Ok(ours)
}

/// Compares `ours` with the case: the output, the input's gradient, the
/// family's `aux` tensors and every other `grad_*` the file holds must be
/// computed, and everything computed must be in the file; `tolerance` by
/// stored name.
pub fn check_outputs(
    tag: &str,
    ours: &[(String, Vec<f64>)],
    file: &SafetensorsFile,
    names: CaseNames,
    tolerance: impl Fn(&str) -> f64,
) -> Result<Vec<Check>> {
    let grad_input = format!("grad_{}", names.input);
    let mut expected: Vec<String> = vec![names.output.into(), grad_input.clone()];
    expected.extend(names.aux.iter().map(|n| n.to_string()));
    expected.extend(
        file.names()
            .into_iter()
            .filter(|n| n.starts_with("grad_") && n != "grad_out" && *n != grad_input),
    );
    check_named(tag, ours, file, &expected, str::to_string, tolerance)
}
