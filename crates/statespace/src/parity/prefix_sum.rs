//! Parity of the running sums, both directions, forward and backward.

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;

use super::harness::{Cx, Draw, Results, outputs_and_grads, versus_cpu};
use crate::error::Result;
use crate::ops::{SsmBackend, prefix_sum};

/// Running sums of x (B, L, F), from the start or the end.
fn run_prefix_sum<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 2],
    reverse: bool,
    device: &B::Device,
) -> Result<Results> {
    let x = draws[0].tensor::<B, 3>(device, DType::F32);
    let y = prefix_sum(x.clone(), reverse)?;
    Ok(outputs_and_grads(y, &draws[1], &[("grad_x", &x)], device))
}

/// One step, one short chunk, several chunks with a ragged last one, and
/// 64 chunks (longer rows only grow both sides' f32 rounding, about
/// ε·√L of the sums).
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    for shape in [[1, 1, 1], [2, 37, 5], [3, 1000, 7], [1, 4096, 24]] {
        for reverse in [false, true] {
            let draws = [cx.draw(&shape), cx.draw(&shape)];
            let label = format!(
                "prefix sum {shape:?}{}",
                if reverse { " reverse" } else { "" }
            );
            versus_cpu!(cx, label, run_prefix_sum::<B>(&draws, reverse));
        }
    }
    Ok(())
}
