//! Golden cases `s4_fftconv_*`: state-spaces/s4's standalone `FFTConv`
//! (input/output in (batch, H, L) layout, parameters by module name).

use burn::optim::GradientsParams;
use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{DType, Tensor};
use rand::SeedableRng;

use super::Check;
use crate::error::{Error, Result};
use crate::io::{HostTensor, SafetensorsFile, named_grads};
use crate::layers::s4::{KernelMode, S4, S4Config, SsmInit};
use crate::ops::SsmBackend;

/// f32 layer outputs and gradients must match to this norm-relative error.
pub const TOLERANCE: f64 = 1e-4;

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

/// The case's layer, with every parameter loaded from `param.*`.
pub fn layer_from_case<B: SsmBackend>(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
    device: &B::Device,
) -> Result<S4<B>> {
    let (config, l_kernel) = config_for(case, file, manifest)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    config
        .init::<B>(device, &mut rng)?
        .load(|name| file.f64(&format!("param.{name}")), l_kernel)
}

/// A (B, H, L) tensor of the case as the layer's (B, L, H).
fn input_blh<B: Backend>(
    file: &SafetensorsFile,
    name: &str,
    device: &B::Device,
) -> Result<Tensor<B, 3>> {
    Ok(file
        .f32(name)?
        .to_tensor::<B, 3>(name, device, DType::F32)?
        .swap_dims(1, 2))
}

fn host_bhl<B: Backend>(y: &Tensor<B, 3>) -> Vec<f64> {
    HostTensor::from_tensor(&y.clone().swap_dims(1, 2)).data
}

/// Output, input gradient and every parameter gradient of the case.
pub fn check_forward_and_gradients<B>(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
    device: &B::Device,
) -> Result<Vec<Check>>
where
    B: AutodiffBackend + SsmBackend,
{
    let layer = layer_from_case::<B>(case, file, manifest, device)?;
    let x = input_blh::<B>(file, "input", device)?.require_grad();
    let y = layer.forward(x.clone())?;
    let mut checks = vec![Check::new(
        format!("{case}: output"),
        &host_bhl(&y),
        &file.f64("output")?.data,
        TOLERANCE,
    )];

    let grad_out = input_blh::<B>(file, "grad_output", device)?;
    let grads = (y * grad_out).sum().backward();
    let grad_x = x.grad(&grads).expect("the input requires a gradient");
    checks.push(Check::new(
        format!("{case}: grad_input"),
        &host_bhl(&grad_x),
        &file.f64("grad_input")?.data,
        TOLERANCE,
    ));
    let params = GradientsParams::from_grads(grads, &layer);
    let ours = named_grads::<B, S4<B>>(&layer, &params);
    for name in file.names().into_iter().filter(|n| n.starts_with("grad.")) {
        let param = &name["grad.".len()..];
        let actual = ours
            .iter()
            .find(|(n, _)| n == param)
            .map(|(_, g)| g.data.clone())
            .unwrap_or_default();
        checks.push(Check::new(
            format!("{case}: {name}"),
            &actual,
            &file.f64(&name)?.data,
            TOLERANCE,
        ));
    }
    Ok(checks)
}

/// The recurrent view: stepping token by token (`output_step`), and
/// streaming in chunks of several sizes (`output`).
pub fn check_recurrent<B: SsmBackend>(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
    device: &B::Device,
) -> Result<Vec<Check>> {
    let layer = layer_from_case::<B>(case, file, manifest, device)?;
    let x = input_blh::<B>(file, "input", device)?;
    let [batch, len, _] = x.dims();
    let rec = layer.recurrent()?;
    let mut checks = Vec::new();

    let mut state = rec.initial_state(batch);
    let mut ys = Vec::with_capacity(len);
    for t in 0..len {
        let (y, next) = rec.step(&state, x.clone().narrow(1, t, 1).squeeze_dim::<2>(1))?;
        ys.push(y.unsqueeze_dim::<3>(1));
        state = next;
    }
    let expected_step = file.f64("output_step")?.data;
    checks.push(Check::new(
        format!("{case}: output_step"),
        &host_bhl(&Tensor::cat(ys, 1)),
        &expected_step,
        TOLERANCE,
    ));

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
            TOLERANCE,
        ));
    }
    Ok(checks)
}

/// Reads `manifest.json` of a golden folder, if present.
pub fn read_manifest(dir: &std::path::Path) -> Option<serde_json::Value> {
    let text = std::fs::read_to_string(dir.join("manifest.json")).ok()?;
    serde_json::from_str(&text).ok()
}
