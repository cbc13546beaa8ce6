//! Golden cases `ssd_*`: mamba_ssm's `ssd_minimal_discrete` in float64
//! (output, final state and the gradients of X, A, B, C).

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;

use super::Check;
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
    let mut checks = vec![
        Check::new(
            format!("{tag}: Y"),
            &HostTensor::from_tensor(&y).data,
            &file.f64("Y")?.data,
            tolerance,
        ),
        Check::new(
            format!("{tag}: final_state"),
            &HostTensor::from_tensor(&last).data,
            &file.f64("final_state")?.data,
            tolerance,
        ),
    ];
    let grad_y = file
        .f64("grad_Y")?
        .to_tensor::<B, 4>("grad_Y", device, dtype)?;
    let grads = (y * grad_y).sum().backward();
    let ours = [
        (
            "grad_X",
            x.grad(&grads).map(|g| HostTensor::from_tensor(&g).data),
        ),
        (
            "grad_A",
            a.grad(&grads).map(|g| HostTensor::from_tensor(&g).data),
        ),
        (
            "grad_B",
            b.grad(&grads).map(|g| HostTensor::from_tensor(&g).data),
        ),
        (
            "grad_C",
            c.grad(&grads).map(|g| HostTensor::from_tensor(&g).data),
        ),
    ];
    for (name, grad) in ours {
        if file.contains(name) {
            checks.push(Check::new(
                format!("{tag}: {name}"),
                &grad.unwrap_or_default(),
                &file.f64(name)?.data,
                tolerance,
            ));
        }
    }
    Ok(checks)
}
