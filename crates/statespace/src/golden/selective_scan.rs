//! Golden cases `selective_scan_*`: mamba_ssm's `selective_scan_ref`
//! (forward, last state, and the gradient of every input).

use burn::tensor::backend::{AutodiffBackend, Backend};
use burn::tensor::{DType, Tensor};

use super::{Check, check_named};
use crate::error::Result;
use crate::io::{HostTensor, SafetensorsFile};
use crate::ops::{SelectiveScan, SelectiveScanOps, selective_scan};

/// f32 outputs and gradients must match to this norm-relative error.
pub const TOLERANCE: f64 = 1e-4;

fn load<B: Backend, const D: usize>(
    file: &SafetensorsFile,
    name: &str,
    device: &B::Device,
) -> Result<Tensor<B, D>> {
    file.f32(name)?.to_tensor::<B, D>(name, device, DType::F32)
}

/// B or C as (batch, groups, N, L), whether stored grouped or not.
fn load_bc<B: Backend>(
    file: &SafetensorsFile,
    name: &str,
    device: &B::Device,
) -> Result<Tensor<B, 4>> {
    if file.shape(name)?.len() == 3 {
        Ok(load::<B, 3>(file, name, device)?.unsqueeze_dim::<4>(1))
    } else {
        load::<B, 4>(file, name, device)
    }
}

/// Whether the case applies softplus to δ (from the manifest; mamba's
/// default is true when absent).
fn softplus(manifest: Option<&serde_json::Value>, case: &str) -> bool {
    manifest
        .and_then(|m| m.get(case)?.get("delta_softplus")?.as_bool())
        .unwrap_or(true)
}

/// Output, last state and every input gradient of the case.
pub fn check_case<B: AutodiffBackend + SelectiveScanOps>(
    case: &str,
    file: &SafetensorsFile,
    manifest: Option<&serde_json::Value>,
    device: &B::Device,
) -> Result<Vec<Check>> {
    let optional1 = |name: &str| -> Result<Option<Tensor<B, 1>>> {
        if file.contains(name) {
            Ok(Some(load::<B, 1>(file, name, device)?.require_grad()))
        } else {
            Ok(None)
        }
    };
    let u = load::<B, 3>(file, "u", device)?.require_grad();
    let delta = load::<B, 3>(file, "delta", device)?.require_grad();
    let a = load::<B, 2>(file, "A", device)?.require_grad();
    let b = load_bc::<B>(file, "B", device)?.require_grad();
    let c = load_bc::<B>(file, "C", device)?.require_grad();
    let d = optional1("D")?;
    let bias = optional1("delta_bias")?;
    let z = if file.contains("z") {
        Some(load::<B, 3>(file, "z", device)?.require_grad())
    } else {
        None
    };
    let scan = SelectiveScan {
        d: d.clone(),
        z: z.clone(),
        delta_bias: bias.clone(),
        delta_softplus: softplus(manifest, case),
        ..SelectiveScan::new(u.clone(), delta.clone(), a.clone(), b.clone(), c.clone())
    };
    let (out, last) = selective_scan(scan)?;
    let host = |t: &Tensor<B, 3>| HostTensor::from_tensor(t).data;
    let mut ours: Vec<(String, Vec<f64>)> = vec![
        ("out".into(), host(&out)),
        ("last_state".into(), HostTensor::from_tensor(&last).data),
    ];
    let grad_out = load::<B, 3>(file, "grad_out", device)?;
    let grads = (out * grad_out).sum().backward();
    let mut push = |name: &str, grad: Option<Vec<f64>>| {
        if let Some(grad) = grad {
            ours.push((format!("grad_{name}"), grad));
        }
    };
    push(
        "u",
        u.grad(&grads).map(|t| HostTensor::from_tensor(&t).data),
    );
    push(
        "delta",
        delta.grad(&grads).map(|t| HostTensor::from_tensor(&t).data),
    );
    push(
        "A",
        a.grad(&grads).map(|t| HostTensor::from_tensor(&t).data),
    );
    push(
        "B",
        b.grad(&grads).map(|t| HostTensor::from_tensor(&t).data),
    );
    push(
        "C",
        c.grad(&grads).map(|t| HostTensor::from_tensor(&t).data),
    );
    for (name, t) in [("D", &d), ("delta_bias", &bias)] {
        push(
            name,
            t.as_ref()
                .and_then(|t| t.grad(&grads))
                .map(|t| HostTensor::from_tensor(&t).data),
        );
    }
    push(
        "z",
        z.as_ref()
            .and_then(|t| t.grad(&grads))
            .map(|t| HostTensor::from_tensor(&t).data),
    );
    // Every input the file holds must have its gradient there, and every
    // stored gradient must have ours.
    let mut expected: Vec<String> = vec!["out".into(), "last_state".into()];
    for input in ["u", "delta", "A", "B", "C", "D", "delta_bias", "z"] {
        if file.contains(input) {
            expected.push(format!("grad_{input}"));
        }
    }
    for name in file.names() {
        if name.starts_with("grad_") && name != "grad_out" && !expected.contains(&name) {
            expected.push(name);
        }
    }
    check_named(case, &ours, file, &expected, str::to_string, |_| TOLERANCE)
}
