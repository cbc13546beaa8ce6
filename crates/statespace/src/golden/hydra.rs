//! Golden cases `hydra_*`: goombalab/hydra's `Hydra` module in float64
//! (output and every gradient), parameters by their state_dict names.

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;

use super::Check;
use super::layer::{
    MAMBA_NAMES, check_outputs, forward_and_gradients, load_layer, manifest_config,
};
use crate::error::{Error, Result};
use crate::io::SafetensorsFile;
use crate::layers::hydra::{Hydra, HydraConfig};
use crate::ops::SsmBackend;

/// The case's configuration: sizes from the tensors' shapes, the group
/// count, dt_limit and chunk size from the manifest's `config`.
pub fn config_for(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
) -> Result<HydraConfig> {
    let fields = manifest_config(manifest, case, file)?;
    let bad = |key: &str| Error::Format {
        path: file.path().to_path_buf(),
        message: format!("manifest config of {case}: `{key}` missing or malformed"),
    };
    let number = |key: &str| fields.get(key).and_then(|v| v.as_u64()).map(|v| v as usize);
    let [_, d_model] = <[usize; 2]>::try_from(file.shape("in_proj.weight")?)
        .map_err(|_| bad("in_proj.weight rank"))?;
    let d_inner = file.shape("norm.weight")?[0];
    let heads = file.shape("A_log")?[0];
    let conv = file.shape("conv1d.weight")?;
    let ngroups = number("ngroups").ok_or_else(|| bad("ngroups"))?;
    let d_state = (conv[0] - d_inner) / (4 * ngroups.max(1));
    let dt_limit = match fields.get("dt_limit") {
        None | Some(serde_json::Value::Null) => (0.0, f64::INFINITY),
        Some(v) => {
            let pair = v
                .as_array()
                .filter(|a| a.len() == 2)
                .ok_or_else(|| bad("dt_limit"))?;
            let at = |i: usize| pair[i].as_f64().ok_or_else(|| bad("dt_limit"));
            (at(0)?, at(1)?)
        }
    };
    Ok(HydraConfig {
        d_model,
        d_state,
        d_conv: conv[2],
        expand: d_inner / d_model.max(1),
        headdim: d_inner / heads.max(1),
        ngroups,
        chunk_size: number("chunk_size_used").unwrap_or(16),
        dt_limit,
        learnable_init_states: file.contains("init_states"),
        bias: file.contains("in_proj.bias"),
        conv_bias: file.contains("conv1d.bias"),
        norm_eps: fields
            .get("norm_eps")
            .and_then(|v| v.as_f64())
            .unwrap_or(1e-5),
        ..HydraConfig::default()
    })
}

/// The case's layer with its parameters stored as `dtype`, every one loaded
/// by its state_dict name.
pub fn layer_from_case<B: SsmBackend>(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
    dtype: DType,
    device: &B::Device,
) -> Result<Hydra<B>> {
    let config = config_for(case, file, manifest)?;
    load_layer(file, dtype, MAMBA_NAMES.official, |rng| {
        config.init::<B>(device, rng)
    })
}

/// Output, input gradient and every parameter gradient of the case, run in
/// `dtype` at `tolerance`.
pub fn check_case<B: AutodiffBackend + SsmBackend>(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
    dtype: DType,
    tolerance: f64,
    device: &B::Device,
) -> Result<Vec<Check>> {
    let layer = layer_from_case::<B>(case, file, manifest, dtype, device)?;
    let ours = forward_and_gradients(&layer, file, MAMBA_NAMES, dtype, device, |m, u| {
        m.forward(u)
    })?;
    check_outputs(
        &format!("{case} ({dtype:?})"),
        &ours,
        file,
        MAMBA_NAMES,
        |_| tolerance,
    )
}
