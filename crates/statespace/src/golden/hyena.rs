//! Golden cases `hyena_*`: safari's `HyenaOperator` (`fftconv_ref` path) in
//! float64: `input` and `output` (B, L, d), `grad_out`, `grad_input`, the
//! modulated implicit filter (`aux_filter`) and every parameter with its
//! gradient under the state_dict names (buffers `pos_emb.t` and
//! `modulation.deltas` loaded as stored).

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;

use super::Check;
use super::layer::{CaseNames, ConfigFields, check_outputs, forward_and_gradients, load_layer};
use crate::error::Result;
use crate::io::{HostTensor, SafetensorsFile};
use crate::layers::activation::Activation;
use crate::layers::hyena::{Hyena, HyenaConfig, official_name};
use crate::ops::SsmBackend;

/// The case's configuration from the manifest's `config`. Fails, naming
/// the key, on settings whose official code does not run or that this
/// layer does not reproduce (several heads, an inner factor, blocks,
/// dropout).
pub fn config_for(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
) -> Result<HyenaConfig> {
    let f = ConfigFields::of(manifest, case, file)?;
    let defaults = HyenaConfig::default();
    for key in ["num_heads", "inner_factor", "num_blocks"] {
        if f.size_or(key, 1) != 1 {
            return Err(f.bad(key, "other than 1 is not supported"));
        }
    }
    for key in ["dropout", "filter_dropout"] {
        if f.real(key, 0.0) != 0.0 {
            return Err(f.bad(key, "must be 0 to compare outputs"));
        }
    }
    let (d_model, l_max) = (f.size("d_model")?, f.size("l_max")?);
    let activation: Activation = f.parse("activation", Activation::Identity)?;
    Ok(HyenaConfig {
        d_model,
        l_max,
        order: f.size_or("order", defaults.order),
        filter_order: f.size_or("filter_order", defaults.filter_order),
        emb_dim: f.size_or("emb_dim", defaults.emb_dim),
        short_filter_order: f.size_or("short_filter_order", defaults.short_filter_order),
        num_inner_mlps: f.size_or("num_inner_mlps", defaults.num_inner_mlps),
        w: f.real("w", defaults.w),
        bias: f.flag("bias", defaults.bias),
        modulate: f.flag("modulate", defaults.modulate),
        shift: f.real("shift", defaults.shift),
        fast_decay_pct: f.real("fast_decay_pct", defaults.fast_decay_pct),
        slow_decay_pct: f.real("slow_decay_pct", defaults.slow_decay_pct),
        target: f.real("target", defaults.target),
        normalized: f.flag("normalized", defaults.normalized),
        outer_mixing: f.flag("outer_mixing", defaults.outer_mixing),
        post_order_ffn: f.flag("post_order_ffn", defaults.post_order_ffn),
        activation,
    })
}

/// safari's names for the Hyena cases.
pub const NAMES: CaseNames = CaseNames {
    input: "input",
    output: "output",
    aux: &["aux_filter"],
    official: official_name,
};

/// The case's operator with its parameters stored as `dtype`, every one
/// loaded by its state_dict name.
pub fn layer_from_case<B: SsmBackend>(
    config: &HyenaConfig,
    file: &SafetensorsFile,
    dtype: DType,
    device: &B::Device,
) -> Result<Hyena<B>> {
    load_layer(file, dtype, NAMES.official, |rng| {
        config.init::<B>(device, rng)
    })
}

/// Output, filter, input gradient and every parameter gradient of the case,
/// run in `dtype` at `tolerance`.
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
    let mut ours = forward_and_gradients(&layer, file, NAMES, dtype, device, |m, u| m.forward(u))?;
    let len = file.shape(NAMES.input)?[1];
    ours.push((
        "aux_filter".to_string(),
        HostTensor::from_tensor(&layer.filter_fn.filter(len)?).data,
    ));
    check_outputs(&format!("{case} ({dtype:?})"), &ours, file, NAMES, |_| {
        tolerance
    })
}
