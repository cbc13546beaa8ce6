//! Parity of GLU along the last axis, forward and backward.

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;

use super::harness::{Cx, Draw, Results, outputs_and_grads, versus_cpu};
use crate::error::Result;
use crate::ops::{SsmBackend, glu};

/// GLU of x (…, 2h), scaled so the gate saturates at the tails.
fn run_glu<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 2],
    device: &B::Device,
) -> Result<Results> {
    let x = draws[0].tensor::<B, 3>(device, DType::F32);
    let out = glu(x.clone().mul_scalar(4.0))?;
    Ok(outputs_and_grads(out, &draws[1], &[("grad_x", &x)], device))
}

/// GLU, forward and backward: rows of 1, odd and wide halves.
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    for (shape, half) in [
        ([1, 1, 2], [1, 1, 1]),
        ([2, 37, 10], [2, 37, 5]),
        ([64, 33, 256], [64, 33, 128]),
    ] {
        let draws = [cx.draw(&shape), cx.draw(&half)];
        versus_cpu!(cx, format!("glu {shape:?}"), run_glu::<B>(&draws));
    }
    Ok(())
}
