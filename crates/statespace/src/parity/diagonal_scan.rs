//! Parity of S5's diagonal scan, both directions, forward and backward.

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;

use super::harness::{Cx, Draw, Results, outputs_and_grads, versus_cpu};
use crate::error::Result;
use crate::ops::{SsmBackend, diagonal_scan};

/// x (B, L, 2F) from λ (2F), u (B, L, 2F) and x0 (B, 2F).
fn run_diagonal_scan<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 4],
    reverse: bool,
    device: &B::Device,
) -> Result<Results> {
    let lambda = draws[0].tensor::<B, 1>(device, DType::F32);
    let u = draws[1].tensor::<B, 3>(device, DType::F32);
    let x0 = draws[2].tensor::<B, 2>(device, DType::F32);
    let x = diagonal_scan(lambda.clone(), u.clone(), Some(x0.clone()), reverse)?;
    Ok(outputs_and_grads(
        x,
        &draws[3],
        &[("grad_lambda", &lambda), ("grad_u", &u), ("grad_x0", &x0)],
        device,
    ))
}

/// A stable λ (F lanes, split-complex) from a normal draw of 2F: moduli in
/// (0.5, 0.999), S5's slow modes near the top, any phase.
fn stable_lambda(draw: Draw) -> Draw {
    let f = draw.data.len() / 2;
    let (radius, angle) = draw.data.split_at(f);
    let modulus = |r: f32| 0.75 + 0.249 * r.tanh();
    let mut data: Vec<f32> = radius
        .iter()
        .zip(angle)
        .map(|(&r, &a)| modulus(r) * (3.0 * a).cos())
        .collect();
    data.extend(
        radius
            .iter()
            .zip(angle)
            .map(|(&r, &a)| modulus(r) * (3.0 * a).sin()),
    );
    Draw {
        data,
        shape: draw.shape,
    }
}

/// One step, one short chunk, ragged chunks, and 64 chunks of 64 steps.
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    for [batch, len, lanes] in [[1, 1, 1], [2, 37, 5], [3, 1000, 7], [1, 4096, 24]] {
        for reverse in [false, true] {
            let draws = [
                stable_lambda(cx.draw(&[2 * lanes])),
                cx.draw(&[batch, len, 2 * lanes]),
                cx.draw(&[batch, 2 * lanes]),
                cx.draw(&[batch, len, 2 * lanes]),
            ];
            let label = format!(
                "diagonal scan b{batch} L{len} F{lanes}{}",
                if reverse { " reverse" } else { "" }
            );
            versus_cpu!(cx, label, run_diagonal_scan::<B>(&draws, reverse));
        }
    }
    Ok(())
}
