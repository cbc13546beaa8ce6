//! Golden cases `h3_*`: safari's `H3` (PyTorch FFT path) in float32 (its
//! shift kernel forces it): `output`, every gradient, the two kernels
//! (`aux_shift_kernel`, `aux_ssm_kernel`), the token-by-token outputs
//! (`output_step`, from zero states, with the final states) and the
//! prefill-then-step outputs (`output_prefill_step`).

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, Tensor};

use super::layer::{
    CaseNames, ConfigFields, check_outputs, forward_and_gradients, input, load_layer,
};
use super::{Check, check_named};
use crate::discretize::Discretization;
use crate::error::Result;
use crate::io::{HostTensor, SafetensorsFile};
use crate::layers::h3::{H3, H3Config};
use crate::ops::SsmBackend;

/// Tolerances against a float32 reference: outputs, kernels and states;
/// gradients.
pub const TOLERANCE_F32_REFERENCE: (f64, f64) = (1e-5, 1e-4);

/// The case's configuration from the manifest's `config` and the shapes.
/// Fails, naming the key, on a kernel mode or real-part transform this
/// layer does not have.
pub fn config_for(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
) -> Result<H3Config> {
    let f = ConfigFields::of(manifest, case, file)?;
    let text = |key: &str| f.text(key).unwrap_or("");
    if !matches!(text("mode"), "" | "diag") {
        return Err(f.bad("mode", "other than diag is not supported"));
    }
    if !matches!(text("real_type"), "" | "exp") {
        return Err(f.bad("real_type", "other than exp is not supported"));
    }
    if f.size_or("channels", 1) != 1 {
        return Err(f.bad("channels", "other than 1 is not supported"));
    }
    let disc = match text("disc") {
        "" | "bilinear" => Discretization::Bilinear,
        "zoh" => Discretization::Zoh,
        _ => return Err(f.bad("disc", "must be bilinear or zoh")),
    };
    let [d_model, d_state] = <[usize; 2]>::try_from(file.shape("ssm_k_kernel.kernel.B")?)
        .map_err(|_| f.bad("ssm_k_kernel.kernel.B", "is not (d_model, N)"))?;
    let heads = file.shape("D")?[0];
    Ok(H3Config {
        d_model,
        d_state,
        head_dim: d_model / heads.max(1),
        disc,
        ..H3Config::new(d_model)
    })
}

/// safari's names for the H3 cases (parameters by their own names).
pub const NAMES: CaseNames = CaseNames {
    input: "input",
    output: "output",
    aux: &["aux_shift_kernel", "aux_ssm_kernel"],
    official: str::to_string,
};

/// The recurrent results a case may store.
const STEP_NAMES: [&str; 4] = [
    "output_step",
    "output_prefill_step",
    "step_final_state_shift",
    "step_final_state_ssm",
];

/// The case's layer with its parameters stored as `dtype`.
pub fn layer_from_case<B: SsmBackend>(
    config: &H3Config,
    file: &SafetensorsFile,
    dtype: DType,
    device: &B::Device,
) -> Result<H3<B>> {
    load_layer(file, dtype, NAMES.official, |rng| {
        config.init::<B>(device, rng)
    })
}

/// Forward, kernels, gradients and both recurrent runs of the case in
/// `dtype`. A float32 reference is held to [`TOLERANCE_F32_REFERENCE`]
/// (its own rounding), a float64 one to `tolerance`.
pub fn check_case<B: AutodiffBackend + SsmBackend>(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
    dtype: DType,
    tolerance: f64,
    device: &B::Device,
) -> Result<Vec<Check>> {
    let config = config_for(case, file, manifest)?;
    let layer = layer_from_case::<B>(&config, file, dtype, device)?;
    let host2 = |t: Tensor<B, 2>| HostTensor::from_tensor(&t).data;
    let host3 = |t: Tensor<B, 3>| HostTensor::from_tensor(&t).data;
    let mut ours = forward_and_gradients(&layer, file, NAMES, dtype, device, |m, u| m.forward(u))?;
    let x = input::<B>(file, NAMES.input, dtype, device)?;
    let [batch, len, _] = x.dims();
    let shift = layer.shift_kernel(len);
    let taps = shift.dims()[1];
    let shift = if taps < len {
        let pad = Tensor::zeros(
            [config.d_model, len - taps],
            (&shift.device(), shift.dtype()),
        );
        Tensor::cat(vec![shift, pad], 1)
    } else {
        shift
    };
    ours.push(("aux_shift_kernel".to_string(), host2(shift)));
    ours.push(("aux_ssm_kernel".to_string(), host2(layer.ssm_kernel(len)?)));
    // Token by token from zero states, and the final states.
    let (stepped, state) = layer.forward_with_state(x.clone(), layer.initial_state(batch))?;
    // (b, H p², N/2, 2), channel h p² + d1 p + d2; a case stored in safari's
    // own layout ((b d1 d2), H, N/2, 2) gets ours permuted to it.
    let ssm = Tensor::stack::<4>(vec![state.ssm.re, state.ssm.im], 3);
    let (heads, p) = (layer.heads(), config.d_model / layer.heads());
    let safari_layout = p > 1
        && file.contains("step_final_state_ssm")
        && file.shape("step_final_state_ssm")?.first() == Some(&(batch * p * p));
    let ssm = if safari_layout {
        let [_, _, modes, _] = ssm.dims();
        ssm.reshape([batch, heads, p * p, modes * 2])
            .swap_dims(1, 2)
            .reshape([batch * p * p, heads, modes, 2])
    } else {
        ssm
    };
    let mut steps = vec![
        ("output_step".to_string(), host3(stepped)),
        ("step_final_state_shift".to_string(), host3(state.shift)),
        (
            "step_final_state_ssm".to_string(),
            HostTensor::from_tensor(&ssm).data,
        ),
    ];
    // A prefix through the convolution, its state, then one token at a time.
    if let Some(prefix) = manifest
        .and_then(|m| m.get(case)?.get("prefill_len")?.as_u64())
        .map(|p| (p as usize).clamp(1, len))
    {
        let head = layer.forward(x.clone().narrow(1, 0, prefix))?;
        let (_, state) =
            layer.forward_with_state(x.clone().narrow(1, 0, prefix), layer.initial_state(batch))?;
        let mut parts = vec![head];
        if prefix < len {
            let (tail, _) = layer.forward_with_state(x.narrow(1, prefix, len - prefix), state)?;
            parts.push(tail);
        }
        steps.push((
            "output_prefill_step".to_string(),
            host3(Tensor::cat(parts, 1)),
        ));
    }
    let f32_reference = file.dtype(NAMES.output)? == safetensors::Dtype::F32;
    let (outputs, gradients) = if f32_reference {
        TOLERANCE_F32_REFERENCE
    } else {
        (tolerance, tolerance)
    };
    let tolerance_of = |name: &str| {
        if name.starts_with("grad_") {
            gradients
        } else {
            outputs
        }
    };
    let tag = format!("{case} ({dtype:?})");
    let mut checks = check_outputs(&tag, &ours, file, NAMES, tolerance_of)?;
    let stored: Vec<String> = STEP_NAMES
        .iter()
        .filter(|n| file.contains(n))
        .map(|n| n.to_string())
        .collect();
    checks.extend(check_named(
        &tag,
        &steps,
        file,
        &stored,
        str::to_string,
        tolerance_of,
    )?);
    Ok(checks)
}
