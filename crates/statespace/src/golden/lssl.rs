//! Reference cases `lssl_*`: state-spaces/s4's `LSSL` (dense HiPPO
//! transition, `learn = 3`) in float64: `input`, `output`, `grad_out`,
//! `grad_input`, C, D (E), the buffer log_dt and the output map, with the
//! gradients of every trained parameter.

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;

use super::Check;
use super::layer::{CaseNames, check_outputs, forward_and_gradients, load_layer, manifest_config};
use crate::error::{Error, Result};
use crate::hippo::Measure;
use crate::io::SafetensorsFile;
use crate::layers::activation::Activation;
use crate::layers::lssl::LsslConfig;
use crate::ops::SsmBackend;

/// The official names, which are ours.
pub const NAMES: CaseNames = CaseNames {
    input: "input",
    output: "output",
    aux: &[],
    official: str::to_string,
};

/// The case's settings from the manifest's `config`; fails, naming the
/// key, on a measure, discretisation or learning mode this layer lacks.
pub fn config_for(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
) -> Result<LsslConfig> {
    let fields = manifest_config(manifest, case, file)?;
    let bad = |key: &str, why: &str| Error::Format {
        path: file.path().to_path_buf(),
        message: format!("manifest config of {case}: `{key}` {why}"),
    };
    let get = |key: &str| fields.get(key).unwrap_or(&serde_json::Value::Null);
    let size = |key: &str| {
        get(key)
            .as_u64()
            .map(|v| v as usize)
            .ok_or_else(|| bad(key, "missing"))
    };
    let measure = match get("measure").as_str().unwrap_or("legs") {
        "legs" => Measure::LegS,
        "legt" => Measure::LegT,
        "lagt" => Measure::LagT { beta: 1.0 },
        "fourier" | "fout" => Measure::FouT,
        other => return Err(bad("measure", &format!("`{other}` is not supported"))),
    };
    if get("learn").as_u64().unwrap_or(3) != 3 {
        return Err(bad(
            "learn",
            "only the dense transition (learn = 3) is reproduced",
        ));
    }
    if !matches!(get("disc").as_str(), None | Some("bilinear")) {
        return Err(bad("disc", "must be bilinear"));
    }
    let activation: Activation = serde_json::from_value(get("activation").clone())
        .map_err(|e| bad("activation", &e.to_string()))?;
    Ok(LsslConfig {
        measure,
        channels: size("channels")?,
        bias: get("bias").as_bool().unwrap_or(false),
        activation,
        ff: get("ff").as_bool().unwrap_or(true),
        ..LsslConfig::new(size("d_model")?, size("d_state")?)
    })
}

/// Output and every gradient of one case in `dtype`.
pub fn check_case<B: AutodiffBackend + SsmBackend>(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
    dtype: DType,
    tolerance: f64,
    device: &B::Device,
) -> Result<Vec<Check>> {
    let config = config_for(case, file, manifest)?;
    let layer = load_layer(file, dtype, NAMES.official, |rng| {
        config.init::<B>(device, rng)
    })?;
    let ours = forward_and_gradients(&layer, file, NAMES, dtype, device, |m, u| m.forward(u))?;
    check_outputs(&format!("{case} ({dtype:?})"), &ours, file, NAMES, |_| {
        tolerance
    })
}
