//! Golden cases `mamba3_*`: mamba_ssm's `Mamba3` module (SISO and MIMO) in
//! float64: output and every gradient, and where the case has them the
//! token-by-token decode outputs `out_step` and the decode state after the
//! last token (`final_angle_state`, `final_ssm_state`, `final_k_state`,
//! `final_v_state`).

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;

use super::Check;
use super::check_named;
use super::layer::{
    MAMBA_NAMES, check_outputs, forward_and_gradients, input, load_layer, manifest_config,
};
use crate::error::{Error, Result};
use crate::io::{HostTensor, SafetensorsFile};
use crate::layers::mamba3::{Mamba3, Mamba3Config, Mamba3State};
use crate::layers::mixer::StatefulMixer;
use crate::ops::SsmBackend;

/// The decode-state tensors of a case, in the order of [`state_values`].
pub const STATE_NAMES: [&str; 4] = [
    "final_angle_state",
    "final_ssm_state",
    "final_k_state",
    "final_v_state",
];

/// The case's configuration: the constructor keywords in the manifest's
/// `config` (mamba_ssm's names; `fuse_pregate_headwise_norm` is a kernel
/// fusion choice that does not change the result), the sizes checked
/// against the tensors.
pub fn config_for(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
) -> Result<Mamba3Config> {
    let fields = manifest_config(manifest, case, file)?;
    let bad = |key: &str| Error::Format {
        path: file.path().to_path_buf(),
        message: format!("manifest config of {case}: `{key}` malformed"),
    };
    let defaults = Mamba3Config::default();
    let size = |key: &str, default: usize| match fields.get(key) {
        None => Ok(default),
        Some(v) => v.as_u64().map(|v| v as usize).ok_or_else(|| bad(key)),
    };
    let real = |key: &str, default: f64| match fields.get(key) {
        None => Ok(default),
        Some(v) => v.as_f64().ok_or_else(|| bad(key)),
    };
    let flag = |key: &str, default: bool| match fields.get(key) {
        None => Ok(default),
        Some(v) => v.as_bool().ok_or_else(|| bad(key)),
    };
    Ok(Mamba3Config {
        d_model: size("d_model", file.shape("u")?[2])?,
        d_state: size("d_state", defaults.d_state)?,
        expand: size("expand", defaults.expand)?,
        headdim: size("headdim", defaults.headdim)?,
        ngroups: size("ngroups", defaults.ngroups)?,
        rope_fraction: real("rope_fraction", defaults.rope_fraction)?,
        A_floor: real("A_floor", defaults.A_floor)?,
        is_outproj_norm: flag("is_outproj_norm", false)?,
        is_mimo: flag("is_mimo", false)?,
        mimo_rank: size("mimo_rank", defaults.mimo_rank)?,
        chunk_size: size("chunk_size", defaults.chunk_size)?,
        ..defaults
    })
}

/// The case's layer with its parameters stored as `dtype`, every one loaded
/// by its state_dict name (a shape that disagrees with the config fails).
pub fn layer_from_case<B: SsmBackend>(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
    dtype: DType,
    device: &B::Device,
) -> Result<Mamba3<B>> {
    let config = config_for(case, file, manifest)?;
    load_layer(file, dtype, MAMBA_NAMES.official, |rng| {
        config.init::<B>(device, rng)
    })
}

/// The four decode-state tensors as host values, named as [`STATE_NAMES`].
pub fn state_values<B: burn::tensor::backend::Backend>(
    state: &Mamba3State<B>,
) -> Vec<(String, Vec<f64>)> {
    let values = [
        HostTensor::from_tensor(&state.angle).data,
        HostTensor::from_tensor(&state.ssm).data,
        HostTensor::from_tensor(&state.k).data,
        HostTensor::from_tensor(&state.v).data,
    ];
    STATE_NAMES
        .iter()
        .map(|n| n.to_string())
        .zip(values)
        .collect()
}

/// Output and every gradient of the case, run in `dtype` at `tolerance`;
/// where the case has decode outputs, `out_step` from one `step` per token
/// and the decode state after the last token, both from the steps and from
/// the parallel pass.
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
    let tag = format!("{case} ({dtype:?})");
    let mut checks = check_outputs(&tag, &ours, file, MAMBA_NAMES, |_| tolerance)?;
    if !file.contains("out_step") {
        return Ok(checks);
    }
    let u = input::<B>(file, "u", dtype, device)?;
    let [batch, len, _] = u.dims();
    let (_, parallel) = layer.run(u.clone(), None)?;
    let mut state = layer.initial_state(batch);
    let mut outputs = Vec::with_capacity(len);
    for t in 0..len {
        let token = u.clone().narrow(1, t, 1).reshape([batch, layer.d_model()]);
        let (y, next) = layer.step(&state, token)?;
        outputs.push(y.unsqueeze_dim::<3>(1));
        state = next;
    }
    let stepped = burn::tensor::Tensor::cat(outputs, 1);
    let mut decode = vec![(
        "out_step".to_string(),
        HostTensor::from_tensor(&stepped).data,
    )];
    decode.extend(state_values(&state));
    let mut expected = vec!["out_step".to_string()];
    expected.extend(STATE_NAMES.iter().map(|n| n.to_string()));
    checks.extend(check_named(
        &format!("{tag} step"),
        &decode,
        file,
        &expected,
        str::to_string,
        |_| tolerance,
    )?);
    let names: Vec<String> = STATE_NAMES.iter().map(|n| n.to_string()).collect();
    checks.extend(check_named(
        &format!("{tag} parallel"),
        &state_values(&parallel),
        file,
        &names,
        str::to_string,
        |_| tolerance,
    )?);
    Ok(checks)
}
