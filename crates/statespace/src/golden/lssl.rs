//! Reference cases `lssl_*`: state-spaces/s4's `LSSL` (dense HiPPO
//! transition, `learn = 3`) in float64: `input`, `output`, `grad_out`,
//! `grad_input`, C, D (E), the buffer log_dt and the output map, with the
//! gradients of every trained parameter.

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;

use super::Check;
use super::layer::{CaseNames, ConfigFields, check_outputs, forward_and_gradients, load_layer};
use crate::error::Result;
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
    let f = ConfigFields::of(manifest, case, file)?;
    let measure = match f.text("measure").unwrap_or("legs") {
        "legs" => Measure::LegS,
        "legt" => Measure::LegT,
        "lagt" => Measure::LagT { beta: 1.0 },
        "fourier" | "fout" => Measure::FouT,
        other => return Err(f.bad("measure", &format!("`{other}` is not supported"))),
    };
    if f.size_or("learn", 3) != 3 {
        return Err(f.bad(
            "learn",
            "only the dense transition (learn = 3) is reproduced",
        ));
    }
    if !matches!(f.text("disc"), None | Some("bilinear")) {
        return Err(f.bad("disc", "must be bilinear"));
    }
    Ok(LsslConfig {
        measure,
        channels: f.size("channels")?,
        bias: f.flag("bias", false),
        activation: f.parse("activation", Activation::Gelu)?,
        ff: f.flag("ff", true),
        ..LsslConfig::new(f.size("d_model")?, f.size("d_state")?)
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
