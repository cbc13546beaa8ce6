//! Parity of exact GELU, forward and backward.

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;

use super::harness::{Cx, Draw, Results, outputs_and_grads, versus_cpu};
use crate::error::Result;
use crate::ops::{SsmBackend, gelu};

/// GELU of x (any shape), scaled so its tails are reached.
fn run_gelu<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 2],
    device: &B::Device,
) -> Result<Results> {
    let x = draws[0].tensor::<B, 3>(device, DType::F32);
    let out = gelu(x.clone().mul_scalar(3.0))?;
    Ok(outputs_and_grads(out, &draws[1], &[("grad_x", &x)], device))
}

/// Exact GELU, forward and backward.
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    for shape in [[1, 1, 1], [2, 37, 5], [64, 33, 128]] {
        let draws = [cx.draw(&shape), cx.draw(&shape)];
        versus_cpu!(cx, format!("gelu {shape:?}"), run_gelu::<B>(&draws));
    }
    Ok(())
}
