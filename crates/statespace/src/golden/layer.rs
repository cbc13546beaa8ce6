//! What the whole-layer golden cases (`hydra_*`, `mamba3_*`) share: a case
//! stores the input `u`, the output `out`, a cotangent `grad_out`, every
//! parameter under its state_dict name and the gradients `grad_u`,
//! `grad_<name>` of Σ out · grad_out.

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

/// A layer built by `init` (from a fixed seed), its parameters stored as
/// `dtype` and every one loaded from the case by its state_dict name (a
/// missing or misshaped tensor fails, naming it).
pub fn load_layer<B: Backend, M: Module<B>>(
    file: &SafetensorsFile,
    dtype: DType,
    init: impl FnOnce(&mut rand_chacha::ChaCha8Rng) -> Result<M>,
) -> Result<M> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    load_params(cast_params(init(&mut rng)?, dtype), |name| file.f64(name))
}

/// `u` of the case as a (B, L, d_model) tensor stored as `dtype`.
pub fn input<B: AutodiffBackend>(
    file: &SafetensorsFile,
    name: &str,
    dtype: DType,
    device: &B::Device,
) -> Result<Tensor<B, 3>> {
    file.f64(name)?.to_tensor::<B, 3>(name, device, dtype)
}

/// Runs `forward` on the case's `u` and differentiates Σ out · grad_out;
/// returns `out`, `grad_u` and `grad_<name>` for every parameter that
/// received a gradient.
pub fn forward_and_gradients<B, M>(
    layer: &M,
    file: &SafetensorsFile,
    dtype: DType,
    device: &B::Device,
    forward: impl Fn(&M, Tensor<B, 3>) -> Result<Tensor<B, 3>>,
) -> Result<Vec<(String, Vec<f64>)>>
where
    B: AutodiffBackend,
    M: AutodiffModule<B>,
{
    let u = input::<B>(file, "u", dtype, device)?.require_grad();
    let out = forward(layer, u.clone())?;
    let mut ours = vec![("out".to_string(), HostTensor::from_tensor(&out).data)];
    let grad_out = input::<B>(file, "grad_out", dtype, device)?;
    let grads = (out * grad_out).sum().backward();
    if let Some(g) = u.grad(&grads) {
        ours.push(("grad_u".to_string(), HostTensor::from_tensor(&g).data));
    }
    let params = GradientsParams::from_grads(grads, layer);
    for (name, grad) in named_grads::<B, M>(layer, &params) {
        ours.push((format!("grad_{name}"), grad.data));
    }
    Ok(ours)
}

/// Compares `ours` with the case: `out`, `grad_u` and every `grad_*` the
/// file holds must be computed, and everything computed must be in the
/// file.
pub fn check_outputs(
    tag: &str,
    ours: &[(String, Vec<f64>)],
    file: &SafetensorsFile,
    tolerance: f64,
) -> Result<Vec<Check>> {
    let mut expected: Vec<String> = vec!["out".into(), "grad_u".into()];
    expected.extend(
        file.names()
            .into_iter()
            .filter(|n| n.starts_with("grad_") && n != "grad_out" && n != "grad_u"),
    );
    check_named(tag, ours, file, &expected, str::to_string, |_| tolerance)
}
