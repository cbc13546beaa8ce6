//! Golden cases `s4_fftconv_*` and `s4_f64_fftconv_*`: state-spaces/s4's
//! standalone `FFTConv` (input/output in (batch, H, L) layout, parameters by
//! module name). Each case runs in the precision its file is stored in: a
//! float64 file is checked in f64 at [`TOLERANCE_F64`], a float32 file in
//! f32 at [`TOLERANCE`].

use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{DType, Tensor};
use rand::SeedableRng;

use super::{Check, check_named, rel_err};
use crate::error::{Error, Result};
use crate::io::{HostTensor, SafetensorsFile, cast_params, named_grads};
use crate::layers::s4::{KernelMode, S4, S4Config, S4Recurrent, SsmInit};
use crate::ops::SsmBackend;

/// f32 layer outputs and gradients must match to this norm-relative error.
pub const TOLERANCE: f64 = 1e-4;
/// f64 layer outputs and gradients must match to this norm-relative error.
pub const TOLERANCE_F64: f64 = 1e-9;

/// The rounding error of the official f64 code's DPLR kernel gradients,
/// relative to their scale: 2⁻⁵³ · max 1/|Λ|² over the case's stored
/// eigenvalues (Λ = −exp(A_real) − i·A_imag).
///
/// state-spaces/s4 composes the Woodbury correction from separate Cauchy
/// sums, so its gradients of the kernel parameters difference terms
/// |ΔBP/(s − ΔΛ)|² larger than themselves; at the node s = 0 that factor is
/// 1/|Λ|². For LegS (|Λ| ≥ ½) this is below 10⁻¹⁵; for FouT's clamped
/// near-DC mode (|Λ| = √2·10⁻⁴) it is 5.5e-9. Measured on
/// `s4_f64_fftconv_fout` against a 40-digit evaluation
/// (`scripts/reference/s4_fout_truth.py`): the reference's `A_imag`
/// gradient is 1.44e-9 off, ours 2.4e-13. A property of the reference's
/// parameters, not of the value under test.
pub fn reference_rounding(file: &SafetensorsFile) -> Result<f64> {
    let re = file.f64("param.kernel.A_real")?.data;
    let im = file.f64("param.kernel.A_imag")?.data;
    let smallest = re
        .iter()
        .zip(&im)
        .map(|(r, i)| (2.0 * r).exp() + i * i)
        .fold(f64::INFINITY, f64::min);
    Ok(f64::EPSILON / 2.0 / smallest)
}

/// The precision a case is stored in (its `input` tensor's dtype: F64 for
/// float64 files, else F32) and the tolerance that goes with it.
pub fn case_precision(file: &SafetensorsFile) -> Result<(DType, f64)> {
    Ok(match file.dtype("input")? {
        safetensors::Dtype::F64 => (DType::F64, TOLERANCE_F64),
        _ => (DType::F32, TOLERANCE),
    })
}

/// The case's description in the manifest (e.g. "FFTConv (mode=dplr, init=legs)").
fn manifest_op(manifest: Option<&serde_json::Value>, case: &str) -> String {
    manifest
        .and_then(|m| m.get(case)?.get("op")?.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The layer configuration a case implies, read from its tensors' shapes
/// and the manifest's `init=` / `disc=` fields; and the stored l_kernel.
pub fn config_for(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
) -> Result<(S4Config, Option<usize>)> {
    let input = file.shape("input")?;
    let a_real = file.shape("param.kernel.A_real")?;
    let c = file.shape("param.kernel.C")?;
    if input.len() != 3 || a_real.len() != 2 || c.len() != 4 {
        return Err(Error::Format {
            path: file.path().to_path_buf(),
            message: "expected input (B, H, L), kernel.A_real (S, N/2), kernel.C (C, H, N/2, 2)"
                .into(),
        });
    }
    let op = manifest_op(manifest, case);
    let field = |key: &str| {
        op.split(|ch: char| ch == ',' || ch == '(' || ch == ')' || ch.is_whitespace())
            .find_map(|kv| kv.strip_prefix(&format!("{key}=")).map(str::to_string))
    };
    let dplr = file.contains("param.kernel.P");
    let l_kernel = file
        .i64("buffer.kernel.l_kernel")
        .ok()
        .map(|t| t.data[0] as usize);
    let mut config = S4Config {
        d_model: input[1],
        d_state: 2 * a_real[1],
        channels: c[0],
        n_ssm: Some(a_real[0]),
        mode: if dplr {
            KernelMode::Dplr
        } else {
            KernelMode::Diag
        },
        l_max: l_kernel.or(Some(input[2])),
        ..S4Config::default()
    };
    if dplr {
        config.rank = file.shape("param.kernel.P")?[0];
    }
    config.init = match field("init") {
        Some(init) => init.parse::<SsmInit>()?,
        None if dplr => SsmInit::Legs,
        None => SsmInit::DiagLin,
    };
    if let Some(disc) = field("disc") {
        config.disc = disc.parse()?;
    }
    Ok((config, l_kernel))
}

/// The case's layer with its parameters stored as `dtype`, every one loaded
/// from `param.*`.
pub fn layer_from_case<B: SsmBackend>(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
    dtype: DType,
    device: &B::Device,
) -> Result<S4<B>> {
    let (config, l_kernel) = config_for(case, file, manifest)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let layer = cast_params(config.init::<B>(device, &mut rng)?, dtype);
    layer.load(|name| file.f64(&format!("param.{name}")), l_kernel)
}

/// A (B, H, L) tensor of the case as the layer's (B, L, H), stored as `dtype`.
fn input_blh<B: Backend>(
    file: &SafetensorsFile,
    name: &str,
    dtype: DType,
    device: &B::Device,
) -> Result<Tensor<B, 3>> {
    Ok(file
        .f64(name)?
        .to_tensor::<B, 3>(name, device, dtype)?
        .swap_dims(1, 2))
}

fn host_bhl<B: Backend>(y: &Tensor<B, 3>) -> Vec<f64> {
    HostTensor::from_tensor(&y.clone().swap_dims(1, 2)).data
}

/// Output, input gradient and parameter gradients of the case's layer run
/// in `dtype`, by name (`output`, `grad_input`, `grad.<param>`).
fn forward_and_gradients<B>(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
    dtype: DType,
    device: &B::Device,
) -> Result<Vec<(String, Vec<f64>)>>
where
    B: AutodiffBackend + SsmBackend,
{
    let layer = layer_from_case::<B>(case, file, manifest, dtype, device)?;
    let x = input_blh::<B>(file, "input", dtype, device)?.require_grad();
    let y = layer.forward(x.clone())?;
    let mut ours = vec![("output".to_string(), host_bhl(&y))];
    let grad_out = input_blh::<B>(file, "grad_output", dtype, device)?;
    let grads = (y * grad_out).sum().backward();
    if let Some(grad_x) = x.grad(&grads) {
        ours.push(("grad_input".to_string(), host_bhl(&grad_x)));
    }
    let params = GradientsParams::from_grads(grads, &layer);
    for (name, grad) in named_grads::<B, S4<B>>(&layer, &params) {
        ours.push((format!("grad.{name}"), grad.data));
    }
    Ok(ours)
}

/// Output, input gradient and every parameter gradient of the case, in the
/// precision the case is stored in. Every parameter the file holds must have
/// its gradient in the file and the other way round.
pub fn check_forward_and_gradients<B>(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
    device: &B::Device,
) -> Result<Vec<Check>>
where
    B: AutodiffBackend + SsmBackend,
{
    let (dtype, tolerance) = case_precision(file)?;
    let ours = forward_and_gradients::<B>(case, file, manifest, dtype, device)?;
    let mut expected: Vec<String> = vec!["output".into(), "grad_input".into()];
    expected.extend(
        file.names()
            .into_iter()
            .filter(|n| n.starts_with("grad.") || n.starts_with("param.")),
    );
    // A parameter in the file whose gradient is missing is a missing reference.
    let expected: Vec<String> = expected
        .into_iter()
        .map(|n| match n.strip_prefix("param.") {
            Some(p) => format!("grad.{p}"),
            None => n,
        })
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let allowance = if dtype == DType::F64 && file.contains("param.kernel.P") {
        reference_rounding(file)?
    } else {
        0.0
    };
    let tolerance_of = |name: &str| {
        if name.starts_with("grad.kernel.") {
            tolerance + allowance
        } else {
            tolerance
        }
    };
    check_named(case, &ours, file, &expected, str::to_string, tolerance_of)
}

/// For a case that also stores high-precision values of some quantities
/// (`truth.<quantity>`, e.g. the 40-digit gradients of
/// `scripts/reference/s4_fout_truth.py`): our f64 result for each, within
/// [`TOLERANCE_F64`] with no allowance for the reference's rounding. None if
/// the case has no such values.
pub fn check_f64_against_truth<B>(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
    device: &B::Device,
) -> Result<Option<Vec<Check>>>
where
    B: AutodiffBackend + SsmBackend,
{
    let names: Vec<String> = file
        .names()
        .into_iter()
        .filter(|n| n.starts_with("truth."))
        .collect();
    if names.is_empty() {
        return Ok(None);
    }
    let ours = forward_and_gradients::<B>(case, file, manifest, DType::F64, device)?;
    let mut checks = Vec::new();
    for name in names {
        let quantity = &name["truth.".len()..];
        let what = format!("{case}: {quantity} in f64 vs the 40-digit truth");
        checks.push(match ours.iter().find(|(n, _)| n == quantity) {
            Some((_, values)) => Check::new(what, values, &file.f64(&name)?.data, TOLERANCE_F64),
            None => Check::missing(what, "we computed none"),
        });
    }
    Ok(Some(checks))
}

/// For a case that also stores the official code's float32 run of the same
/// float64 weights (`f32.output`, `f32.grad_input`, `f32.grad.<param>`,
/// `f32.output_step`):
/// our float32 run, each quantity compared with the float64 truth. A check
/// passes if ours is within [`TOLERANCE`] of the truth or no further from it
/// than the official float32 result is. None if the case has no such run.
pub fn check_f32_against_official_f32<B>(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
    device: &B::Device,
) -> Result<Option<Vec<Check>>>
where
    B: AutodiffBackend + SsmBackend,
{
    if !file.contains("f32.output") {
        return Ok(None);
    }
    let mut ours = forward_and_gradients::<B>(case, file, manifest, DType::F32, device)?;
    let layer = layer_from_case::<B>(case, file, manifest, DType::F32, device)?;
    let x = input_blh::<B>(file, "input", DType::F32, device)?;
    ours.push((
        "output_step".into(),
        stepped_output(&layer.recurrent()?, &x)?,
    ));
    let mut checks = Vec::new();
    for name in file.names().into_iter().filter(|n| n.starts_with("f32.")) {
        let quantity = &name["f32.".len()..];
        let truth = file.f64(quantity)?.data;
        let official = rel_err(&file.f64(&name)?.data, &truth);
        let what =
            format!("{case}: {quantity} in f32 vs the f64 truth (official f32: {official:.2e})");
        checks.push(match ours.iter().find(|(n, _)| n == quantity) {
            Some((_, values)) => Check::new(what, values, &truth, TOLERANCE.max(official)),
            None => Check::missing(what, "we computed none"),
        });
    }
    Ok(Some(checks))
}

/// The recurrent view run one token at a time from a zero state over x
/// (B, L, H): the output in the file's (B, H, L) order.
fn stepped_output<B: SsmBackend>(rec: &S4Recurrent<B>, x: &Tensor<B, 3>) -> Result<Vec<f64>> {
    let [batch, len, _] = x.dims();
    let mut state = rec.initial_state(batch);
    let mut ys = Vec::with_capacity(len);
    for t in 0..len {
        let (y, next) = rec.step(&state, x.clone().narrow(1, t, 1).squeeze_dim::<2>(1))?;
        ys.push(y.unsqueeze_dim::<3>(1));
        state = next;
    }
    Ok(host_bhl(&Tensor::cat(ys, 1)))
}

/// The recurrent view: stepping token by token (`output_step`), and
/// streaming in chunks of several sizes (`output`).
pub fn check_recurrent<B: SsmBackend>(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
    device: &B::Device,
) -> Result<Vec<Check>> {
    let (dtype, tolerance) = case_precision(file)?;
    let layer = layer_from_case::<B>(case, file, manifest, dtype, device)?;
    let x = input_blh::<B>(file, "input", dtype, device)?;
    let [batch, len, _] = x.dims();
    let rec = layer.recurrent()?;
    let mut checks = vec![Check::new(
        format!("{case}: output_step"),
        &stepped_output(&rec, &x)?,
        &file.f64("output_step")?.data,
        tolerance,
    )];

    let expected = file.f64("output")?.data;
    for chunk in [1, 7, 50, len] {
        let mut state = rec.initial_state(batch);
        let mut ys = Vec::new();
        let mut t = 0;
        while t < len {
            let n = chunk.min(len - t);
            let (y, next) = rec.forward_with_state(&state, x.clone().narrow(1, t, n))?;
            ys.push(y);
            state = next;
            t += n;
        }
        checks.push(Check::new(
            format!("{case}: streamed in chunks of {chunk}"),
            &host_bhl(&Tensor::cat(ys, 1)),
            &expected,
            tolerance,
        ));
    }
    Ok(checks)
}
