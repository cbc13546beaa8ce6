//! Golden cases `spacetime_*`: HazyResearch/spacetime in float64 — the
//! Krylov and companion-FFT kernels (`spacetime_krylov`), each SSM class
//! (`spacetime_ssm_*`, open and closed loop) and whole networks
//! (`spacetime_net_*`). Each case's manifest entry lists its `outputs`,
//! their cotangents (`grad_outputs`: the gradients are of
//! Σ_o Σ o·grad_o), its parameters, buffers and `unused_params` (whose
//! stored gradients must be zero); shapes are read from the files.

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, Tensor};
use rand::SeedableRng;

use super::{Check, check_named};
use crate::error::{Error, Result};
use crate::io::{HostTensor, SafetensorsFile, cast_params, load_params, named_grads};
use crate::layers::spacetime::{
    SpaceTimeConfig, SsmKind, SsmKwargs, companion_fft_kernel, companion_matrix, krylov_states,
};
use crate::ops::SsmBackend;

/// The manifest entry of `case`, or an error naming it.
fn entry<'a>(
    manifest: Option<&'a serde_json::Value>,
    case: &str,
    file: &SafetensorsFile,
) -> Result<&'a serde_json::Value> {
    manifest
        .and_then(|m| m.get(case))
        .ok_or_else(|| Error::Format {
            path: file.path().to_path_buf(),
            message: format!("the manifest has no entry for case {case}"),
        })
}

/// A list of names in the entry (empty when absent).
fn names(entry: &serde_json::Value, key: &str) -> Vec<String> {
    entry
        .get(key)
        .and_then(|v| v.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn bad(file: &SafetensorsFile, case: &str, why: String) -> Error {
    Error::Format {
        path: file.path().to_path_buf(),
        message: format!("manifest entry of {case}: {why}"),
    }
}

/// A stored tensor as a rank-`D` tensor of `dtype`.
fn load<B: AutodiffBackend, const D: usize>(
    file: &SafetensorsFile,
    name: &str,
    dtype: DType,
    device: &B::Device,
) -> Result<Tensor<B, D>> {
    file.f64(name)?.to_tensor::<B, D>(name, device, dtype)
}

fn host<B: burn::tensor::backend::Backend, const D: usize>(t: &Tensor<B, D>) -> Vec<f64> {
    HostTensor::from_tensor(t).data
}

/// Checks one case in `dtype` within `tolerance`.
pub fn check_case<B: AutodiffBackend + SsmBackend>(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
    dtype: DType,
    tolerance: f64,
    device: &B::Device,
) -> Result<Vec<Check>> {
    let entry = entry(manifest, case, file)?;
    let family = entry.get("family").and_then(|f| f.as_str()).unwrap_or("");
    let tag = format!("{case} ({dtype:?})");
    let ours = match family {
        "spacetime_krylov" => krylov_case::<B>(file, dtype, device)?,
        "spacetime_ssm" => ssm_case::<B>(case, file, entry, dtype, device)?,
        "spacetime_net" => net_case::<B>(case, file, entry, dtype, device)?,
        other => return Err(bad(file, case, format!("unknown family `{other}`"))),
    };
    let cotangents = names(entry, "grad_outputs");
    let mut expected: Vec<String> = file
        .names()
        .into_iter()
        .filter(|n| {
            let derivative = n.starts_with("grad_") || n.starts_with("gradall_");
            let stored = n.starts_with("act.") || n == "forecast";
            (derivative && !cotangents.contains(n) && n != "grad_K") || stored
        })
        .collect();
    expected.extend(names(entry, "outputs"));
    expected.extend(
        ["A", "X", "K", "K_companion_fft", "kernel_used"]
            .iter()
            .filter(|n| file.contains(n))
            .map(|n| n.to_string()),
    );
    check_named(&tag, &ours, file, &expected, str::to_string, |_| tolerance)
}

/// `spacetime_krylov`: A = companion(p), X[h, :, l] = A_hˡ b_h, K = cᵀX and
/// the gradients of Σ K·grad_K; K_companion_fft by the fast path.
fn krylov_case<B: AutodiffBackend + SsmBackend>(
    file: &SafetensorsFile,
    dtype: DType,
    device: &B::Device,
) -> Result<Vec<(String, Vec<f64>)>> {
    let p = load::<B, 2>(file, "p", dtype, device)?.require_grad();
    let b = load::<B, 2>(file, "b", dtype, device)?.require_grad();
    let c = load::<B, 2>(file, "c", dtype, device)?.require_grad();
    let [h, n] = p.dims();
    let len = file.f64("K")?.shape[1];
    let a = companion_matrix(p.clone());
    let x = krylov_states(len, a.clone(), b.clone().reshape([h, n, 1]))?.reshape([h, n, len]);
    let k = (x.clone() * c.clone().reshape([h, n, 1]))
        .sum_dim(1)
        .reshape([h, len]);
    let fast = companion_fft_kernel(
        len,
        p.clone().detach(),
        b.clone().detach(),
        c.clone().detach(),
    )?;
    let grad_k = load::<B, 2>(file, "grad_K", dtype, device)?;
    let grads = (k.clone() * grad_k).sum().backward();
    let mut ours = vec![
        ("A".to_string(), host(&a)),
        ("X".to_string(), host(&x)),
        ("K".to_string(), host(&k)),
        ("K_companion_fft".to_string(), host(&fast)),
    ];
    for (name, t) in [("p", &p), ("b", &b), ("c", &c)] {
        if let Some(g) = t.grad(&grads) {
            ours.push((format!("grad_{name}"), host(&g)));
        }
    }
    Ok(ours)
}

/// Differentiates Σ_o Σ o·grad_o over `outputs` (named as the manifest's
/// `outputs`, cotangents its `grad_outputs`) and returns the outputs, the
/// input's gradient, every parameter's gradient and zeros for the
/// `unused_params` the module does not hold.
fn with_gradients<B, M>(
    module: &M,
    u: &Tensor<B, 3>,
    outputs: Vec<(String, Tensor<B, 3>)>,
    file: &SafetensorsFile,
    entry: &serde_json::Value,
    dtype: DType,
    device: &B::Device,
) -> Result<Vec<(String, Vec<f64>)>>
where
    B: AutodiffBackend + SsmBackend,
    M: AutodiffModule<B>,
{
    let cotangents = names(entry, "grad_outputs");
    let mut ours = Vec::new();
    let mut loss: Option<Tensor<B, 1>> = None;
    for ((name, out), cotangent) in outputs.into_iter().zip(&cotangents) {
        let g = load::<B, 3>(file, cotangent, dtype, device)?;
        let term = (out.clone() * g).sum();
        loss = Some(match loss {
            Some(l) => l + term,
            None => term,
        });
        ours.push((name, host(&out)));
    }
    let loss = loss.ok_or_else(|| Error::Format {
        path: file.path().to_path_buf(),
        message: "the manifest lists no grad_outputs".into(),
    })?;
    let grads = loss.backward();
    if let Some(g) = u.grad(&grads) {
        ours.push(("grad_input".to_string(), host(&g)));
    }
    let params = GradientsParams::from_grads(grads, module);
    for (name, grad) in named_grads::<B, M>(module, &params) {
        ours.push((format!("grad_{name}"), grad.data));
    }
    for unused in names(entry, "unused_params") {
        let key = format!("grad_{unused}");
        if !ours.iter().any(|(n, _)| *n == key) && file.contains(&key) {
            let count = file.f64(&key)?.data.len();
            ours.push((key, vec![0.0; count]));
        }
    }
    Ok(ours)
}

/// `spacetime_ssm_*`: one SSM class, open or closed loop.
/// The case's config: a JSON object or a string holding one.
fn config_of(
    case: &str,
    file: &SafetensorsFile,
    entry: &serde_json::Value,
) -> Result<serde_json::Value> {
    match entry.get("config") {
        Some(serde_json::Value::String(s)) => {
            serde_json::from_str(s).map_err(|e| bad(file, case, format!("config is not JSON: {e}")))
        }
        Some(v) => Ok(v.clone()),
        None => Err(bad(file, case, "no config".into())),
    }
}

/// `spacetime_net_*`: the network built from the official model config;
/// its four outputs, every stored activation, the data transform (input =
/// x_raw − its lag mean, forecast = y_c + that mean), `grad_*` (of the
/// forecast alone) and `gradall_*` (of all four outputs).
fn net_case<B: AutodiffBackend + SsmBackend>(
    case: &str,
    file: &SafetensorsFile,
    entry: &serde_json::Value,
    dtype: DType,
    device: &B::Device,
) -> Result<Vec<(String, Vec<f64>)>> {
    let config: SpaceTimeConfig = serde_json::from_value(config_of(case, file, entry)?)
        .map_err(|e| bad(file, case, format!("model config: {e}")))?;
    // The references are in evaluation mode: no dropout in the gradients.
    let config = config.without_dropout();
    // Each backward pass gets a network of its own: a parameter reused after
    // a backward can lose its gradient when another thread's backward runs
    // at the same time (burn 0.21's autodiff, tracel-ai/burn#5573; seen
    // here as a flaky `gradall_decoder.blocks.ssm.c` under parallel tests).
    let fresh_net = || -> Result<_> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
        let net = cast_params(config.init::<B>(device, &mut rng)?, dtype);
        net.load(|name| file.f64(name))
    };
    let outputs = names(entry, "outputs");
    let cotangents = names(entry, "grad_outputs");
    let mut ours = Vec::new();
    // The data transform.
    let raw = load::<B, 3>(file, "x_raw", dtype, device)?;
    let lag = file.f64("input")?.shape[1];
    let mean = raw.clone().narrow(1, 0, lag).mean_dim(1);
    ours.push((
        "input".to_string(),
        host(&(raw.narrow(1, 0, lag) - mean.clone())),
    ));
    for (prefix, all) in [("grad_", false), ("gradall_", true)] {
        let net = fresh_net()?;
        let official = net.official_names();
        let u = load::<B, 3>(file, "input", dtype, device)?.require_grad();
        let out = net.forward(u.clone())?;
        let named = [
            ("y_c", out.y_c.clone()),
            ("y_o", out.y_o.clone()),
            ("z_u_pred", out.z_u_pred.clone()),
            ("z_u_true", out.z_u_true.clone()),
        ];
        if !all {
            for (name, t) in &named {
                ours.push((name.to_string(), host(t)));
            }
            for (name, t) in &out.activations {
                ours.push((format!("act.{name}"), host(t)));
            }
            ours.push((
                "forecast".to_string(),
                host(&(out.y_c.clone() + mean.clone())),
            ));
        }
        let mut loss: Option<Tensor<B, 1>> = None;
        for (name, cotangent) in outputs.iter().zip(&cotangents) {
            if !all && name != "y_c" {
                continue;
            }
            let t = named
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, t)| t.clone())
                .ok_or_else(|| bad(file, case, format!("unknown output `{name}`")))?;
            let term = (t * load::<B, 3>(file, cotangent, dtype, device)?).sum();
            loss = Some(match loss {
                Some(l) => l + term,
                None => term,
            });
        }
        let loss = loss.ok_or_else(|| bad(file, case, "no cotangents".into()))?;
        let grads = loss.backward();
        if let Some(g) = u.grad(&grads) {
            ours.push((format!("{prefix}input"), host(&g)));
        }
        let params = GradientsParams::from_grads(grads, &net);
        for (name, grad) in named_grads::<B, _>(&net, &params) {
            let name = official.get(&name).cloned().unwrap_or(name);
            ours.push((format!("{prefix}{name}"), grad.data));
        }
        for unused in names(entry, "unused_params") {
            let key = format!("{prefix}{unused}");
            if !ours.iter().any(|(n, _)| *n == key) && file.contains(&key) {
                ours.push((key.clone(), vec![0.0; file.f64(&key)?.data.len()]));
            }
        }
    }
    Ok(ours)
}

fn ssm_case<B: AutodiffBackend + SsmBackend>(
    case: &str,
    file: &SafetensorsFile,
    entry: &serde_json::Value,
    dtype: DType,
    device: &B::Device,
) -> Result<Vec<(String, Vec<f64>)>> {
    let config = config_of(case, file, entry)?;
    let kwargs: SsmKwargs =
        serde_json::from_value(config.get("kwargs").cloned().unwrap_or_default())
            .map_err(|e| bad(file, case, format!("config kwargs: {e}")))?;
    let module = entry.get("module").and_then(|m| m.as_str()).unwrap_or("");
    let mode = entry.get("mode").and_then(|m| m.as_str()).unwrap_or("open");
    let u = load::<B, 3>(file, "input", dtype, device)?.require_grad();
    let lookup = |name: &str| file.f64(name);
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(0);
    let kind = |name: &str| {
        if name.contains("Shift") {
            SsmKind::Shift
        } else {
            SsmKind::Companion
        }
    };
    match module {
        "CompanionSSM" | "ShiftSSM" => {
            let layer = cast_params(
                kwargs.init_open::<B>(kind(module), device, &mut rng)?,
                dtype,
            );
            let layer = load_params(layer, lookup)?;
            let y = layer.forward(u.clone())?;
            with_gradients(
                &layer,
                &u,
                vec![("output".into(), y)],
                file,
                entry,
                dtype,
                device,
            )
        }
        "ClosedLoopCompanionSSM" | "ClosedLoopShiftSSM" => {
            let layer = cast_params(
                kwargs.init_closed::<B>(kind(module), device, &mut rng)?,
                dtype,
            );
            let layer = load_params(layer, lookup)?;
            let outputs = if mode == "closed" {
                let f = layer.forecast(u.clone())?;
                vec![("y".into(), f.y), ("u_next".into(), f.u_next)]
            } else {
                let t = layer.teacher_forced(u.clone())?;
                vec![("y".into(), t.y), ("y_u".into(), t.y_u)]
            };
            with_gradients(&layer, &u, outputs, file, entry, dtype, device)
        }
        "ResidualSSM" => {
            let layer = cast_params(kwargs.init_residual::<B>(device, &mut rng)?, dtype);
            let layer = load_params(layer, lookup)?;
            let kernel = layer.kernel(u.dims()[1]);
            let y = layer.forward(u.clone())?;
            preprocessing(&layer, &u, y, kernel, file, entry, dtype, device)
        }
        "DifferencingSSM" => {
            let layer = cast_params(kwargs.init_differencing::<B>(device)?, dtype);
            let layer = load_params(layer, lookup)?;
            let kernel = layer.kernel_rows(u.dims()[1]);
            let y = layer.forward(u.clone())?;
            preprocessing(&layer, &u, y, kernel, file, entry, dtype, device)
        }
        other => Err(bad(file, case, format!("unknown module `{other}`"))),
    }
}

/// A preprocessing SSM's output `y` and gradients, and the fixed `kernel`
/// it used (`kernel_used`).
#[allow(clippy::too_many_arguments)]
fn preprocessing<B, M>(
    layer: &M,
    u: &Tensor<B, 3>,
    y: Tensor<B, 3>,
    kernel: Tensor<B, 2>,
    file: &SafetensorsFile,
    entry: &serde_json::Value,
    dtype: DType,
    device: &B::Device,
) -> Result<Vec<(String, Vec<f64>)>>
where
    B: AutodiffBackend + SsmBackend,
    M: AutodiffModule<B>,
{
    let mut ours = with_gradients(
        layer,
        u,
        vec![("output".into(), y)],
        file,
        entry,
        dtype,
        device,
    )?;
    ours.push(("kernel_used".into(), host(&kernel)));
    Ok(ours)
}
