//! Golden cases `ssd_*`: mamba_ssm's `ssd_minimal_discrete` in float64
//! (output, final state and the gradients of X, A, B, C).

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{DType, Tensor};

use super::{Check, check_named};
use crate::error::Result;
use crate::io::{HostTensor, SafetensorsFile};
use crate::ops::{Ssd, SsdOps, ssd, ssd_chunked};

/// Tolerance in f64.
pub const TOLERANCE_F64: f64 = 1e-9;

/// Every quantity of the case computed with `chunk_size`, in `dtype`
/// (F64 where the backend supports it), by the backend's SSD op or, with
/// `chunked`, by the chunked composite.
#[allow(clippy::too_many_arguments)]
pub fn check_case<B: AutodiffBackend + SsdOps>(
    case: &str,
    file: &SafetensorsFile,
    chunk_size: usize,
    chunked: bool,
    dtype: DType,
    tolerance: f64,
    device: &B::Device,
) -> Result<Vec<Check>> {
    let x = file
        .f64("X")?
        .to_tensor::<B, 4>("X", device, dtype)?
        .require_grad();
    let a = file
        .f64("A")?
        .to_tensor::<B, 3>("A", device, dtype)?
        .require_grad();
    let b = file
        .f64("B")?
        .to_tensor::<B, 4>("B", device, dtype)?
        .require_grad();
    let c = file
        .f64("C")?
        .to_tensor::<B, 4>("C", device, dtype)?
        .require_grad();
    let inputs = Ssd {
        x: x.clone(),
        a: a.clone(),
        b: b.clone(),
        c: c.clone(),
        chunk_size,
        initial_state: None,
        starts: None,
    };
    let (y, last) = if chunked {
        ssd_chunked(inputs)?
    } else {
        ssd(inputs)?
    };
    let algorithm = if chunked { "chunked" } else { "op" };
    let tag = format!("{case} ({algorithm}, chunk {chunk_size})");
    let mut ours: Vec<(String, Vec<f64>)> = vec![
        ("Y".into(), HostTensor::from_tensor(&y).data),
        ("final_state".into(), HostTensor::from_tensor(&last).data),
    ];
    let grad_y = file
        .f64("grad_Y")?
        .to_tensor::<B, 4>("grad_Y", device, dtype)?;
    let grads = (y * grad_y).sum().backward();
    let mut push = |name: &str, grad: Option<Tensor<B::InnerBackend, 4>>| {
        if let Some(g) = grad {
            ours.push((name.to_string(), HostTensor::from_tensor(&g).data));
        }
    };
    push("grad_X", x.grad(&grads));
    push("grad_A", a.grad(&grads).map(|g| g.unsqueeze_dim(3)));
    push("grad_B", b.grad(&grads));
    push("grad_C", c.grad(&grads));
    let expected: Vec<String> = ["Y", "final_state", "grad_X", "grad_A", "grad_B", "grad_C"]
        .into_iter()
        .map(str::to_string)
        .collect();
    check_named(&tag, &ours, file, &expected, str::to_string, |_| tolerance)
}
