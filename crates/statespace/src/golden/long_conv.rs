//! Golden cases `longconv_*`: safari's `LongConv` (plain FFT path) in
//! float64: `input`, `output`, `grad_out`, `grad_input`, the kernel
//! actually convolved (`aux_kernel`) and every parameter with its gradient
//! under the state_dict names.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, Tensor};

use super::Check;
use super::layer::{CaseNames, ConfigFields, check_outputs, forward_and_gradients, load_layer};
use crate::error::Result;
use crate::io::{HostTensor, SafetensorsFile};
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
    let f = ConfigFields::of(manifest, case, file)?;
    if f.flag("smooth_freq", false) {
        return Err(f.bad("smooth_freq", "true is not supported"));
    }
    if !f.flag("causal", true) {
        return Err(f.bad("causal", "false is not supported"));
    }
    for key in ["dropout", "kernel_dropout"] {
        if f.real(key, 0.0) != 0.0 {
            return Err(f.bad(key, "must be 0 to compare outputs"));
        }
    }
    let postact = match f.get("postact") {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) if s == "glu" => Some(PostAct::Glu),
        _ => Some(PostAct::Activation(
            f.parse("postact", Activation::Identity)?,
        )),
    };
    let config = LongConvConfig {
        d_model: f.size("d_model")?,
        l_max: f.size("l_max")?,
        channels: f.size_or("channels", 1),
        lam: f.real("lam", 0.1),
        ma_window_len: if f.flag("use_ma_smoothing", false) {
            Some(f.size_or("ma_window_len", 7))
        } else {
            None
        },
        bidirectional: f.flag("bidirectional", false),
        activation: f.parse("activation", Activation::Identity)?,
        postact,
    };
    Ok((config, f.flag("transposed", true)))
}

/// safari's names for the long convolution's cases.
pub const NAMES: CaseNames = CaseNames {
    input: "input",
    output: "output",
    aux: &["aux_kernel"],
    official: official_name,
};

/// The case's layer with its parameters stored as `dtype`, every one loaded
/// by its state_dict name.
pub fn layer_from_case<B: SsmBackend>(
    config: &LongConvConfig,
    file: &SafetensorsFile,
    dtype: DType,
    device: &B::Device,
) -> Result<LongConv<B>> {
    load_layer(file, dtype, NAMES.official, |rng| {
        config.init::<B>(device, rng)
    })
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
    let mut ours = forward_and_gradients(&layer, file, NAMES, dtype, device, |m, u| {
        Ok(layout(m.forward(layout(u))?))
    })?;
    ours.push((
        "aux_kernel".to_string(),
        HostTensor::from_tensor(&layer.effective_kernel()).data,
    ));
    check_outputs(&format!("{case} ({dtype:?})"), &ours, file, NAMES, |_| {
        tolerance
    })
}
