//! Golden cases `longconv_*`: safari's `LongConv` (plain FFT path) in
//! float64: `input`, `output`, `grad_out`, `grad_input`, the kernel
//! actually convolved (`aux_kernel`) and every parameter with its gradient
//! under the state_dict names.

use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, Tensor};
use rand::SeedableRng;

use super::layer::{input, manifest_config};
use super::{Check, check_named};
use crate::error::{Error, Result};
use crate::io::{HostTensor, SafetensorsFile, cast_params, named_grads};
use crate::layers::activation::Activation;
use crate::layers::long_conv::{LongConv, LongConvConfig, PostAct, official_name};
use crate::ops::SsmBackend;

/// The case's configuration (the manifest's `config`) and whether its
/// tensors are (B, H, L) (`transposed`). Fails, naming the key, on a
/// setting this layer does not reproduce (frequency smoothing, a
/// non-causal kernel, dropout).
pub fn config_for(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
) -> Result<(LongConvConfig, bool)> {
    let fields = manifest_config(manifest, case, file)?;
    let bad = |key: &str, why: &str| Error::Format {
        path: file.path().to_path_buf(),
        message: format!("manifest config of {case}: `{key}` {why}"),
    };
    let get = |key: &str| fields.get(key).unwrap_or(&serde_json::Value::Null);
    let number = |key: &str| get(key).as_u64().map(|v| v as usize);
    let flag = |key: &str, default: bool| get(key).as_bool().unwrap_or(default);
    let d_model = number("d_model").ok_or_else(|| bad("d_model", "missing"))?;
    let l_max = number("l_max").ok_or_else(|| bad("l_max", "missing"))?;
    if flag("smooth_freq", false) {
        return Err(bad("smooth_freq", "true is not supported"));
    }
    if !flag("causal", true) {
        return Err(bad("causal", "false is not supported"));
    }
    for key in ["dropout", "kernel_dropout"] {
        if get(key).as_f64().unwrap_or(0.0) != 0.0 {
            return Err(bad(key, "must be 0 to compare outputs"));
        }
    }
    let activation = |key: &str| -> Result<Activation> {
        serde_json::from_value(get(key).clone()).map_err(|e| bad(key, &e.to_string()))
    };
    let postact = match get("postact") {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) if s == "glu" => Some(PostAct::Glu),
        _ => Some(PostAct::Activation(activation("postact")?)),
    };
    let config = LongConvConfig {
        d_model,
        l_max,
        channels: number("channels").unwrap_or(1),
        lam: get("lam").as_f64().unwrap_or(0.1),
        ma_window_len: if flag("use_ma_smoothing", false) {
            Some(number("ma_window_len").unwrap_or(7))
        } else {
            None
        },
        bidirectional: flag("bidirectional", false),
        activation: match get("activation") {
            serde_json::Value::Null => Activation::Identity,
            _ => activation("activation")?,
        },
        postact,
    };
    Ok((config, flag("transposed", true)))
}

/// The case's layer with its parameters stored as `dtype`, every one loaded
/// by its state_dict name.
pub fn layer_from_case<B: SsmBackend>(
    config: &LongConvConfig,
    file: &SafetensorsFile,
    dtype: DType,
    device: &B::Device,
) -> Result<LongConv<B>> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    cast_params(config.init::<B>(device, &mut rng)?, dtype).load(|name| file.f64(name))
}

/// Output, effective kernel, input gradient and every parameter gradient of
/// the case, run in `dtype` at `tolerance`.
pub fn check_case<B: AutodiffBackend + SsmBackend>(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
    dtype: DType,
    tolerance: f64,
    device: &B::Device,
) -> Result<Vec<Check>> {
    let (config, transposed) = config_for(case, file, manifest)?;
    let layer = layer_from_case::<B>(&config, file, dtype, device)?;
    // The file's layout ↔ the layer's (B, L, H).
    let layout = |t: Tensor<B, 3>| if transposed { t.swap_dims(1, 2) } else { t };
    let u = input::<B>(file, "input", dtype, device)?.require_grad();
    let out = layout(layer.forward(layout(u.clone()))?);
    let host = |t: &Tensor<B, 3>| HostTensor::from_tensor(t).data;
    let mut ours = vec![
        ("output".to_string(), host(&out)),
        ("aux_kernel".to_string(), host(&layer.effective_kernel())),
    ];
    let grad_out = input::<B>(file, "grad_out", dtype, device)?;
    let grads = (out * grad_out).sum().backward();
    if let Some(g) = u.grad(&grads) {
        ours.push(("grad_input".to_string(), HostTensor::from_tensor(&g).data));
    }
    let params = GradientsParams::from_grads(grads, &layer);
    for (name, grad) in named_grads::<B, _>(&layer, &params) {
        ours.push((format!("grad_{}", official_name(&name)), grad.data));
    }
    let mut expected: Vec<String> = vec!["output".into(), "grad_input".into()];
    expected.extend(file.names().into_iter().filter(|n| {
        (n.starts_with("grad_") && n != "grad_out" && n != "grad_input") || n == "aux_kernel"
    }));
    check_named(
        &format!("{case} ({dtype:?})"),
        &ours,
        file,
        &expected,
        str::to_string,
        |_| tolerance,
    )
}
