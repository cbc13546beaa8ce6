//! Parity of the full-precision matmul (broadcast batches, degenerate shapes, a
//! cuBLAS-sized product) and the bias add.

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;

use super::harness::{Cx, Draw, Results, outputs_and_grads, versus_cpu};
use crate::error::Result;
use crate::ops::{SsmBackend, add_bias, matmul};

fn run_matmul<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 3],
    device: &B::Device,
) -> Result<Results> {
    let a = draws[0].tensor::<B, 3>(device, DType::F32);
    let b = draws[1].tensor::<B, 3>(device, DType::F32);
    let out = matmul(a.clone(), b.clone())?;
    Ok(outputs_and_grads(
        out,
        &draws[2],
        &[("grad_lhs", &a), ("grad_rhs", &b)],
        device,
    ))
}

/// y + b on every row, and both gradients (∂b is a column sum).
fn run_add_bias<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 3],
    device: &B::Device,
) -> Result<Results> {
    let y = draws[0].tensor::<B, 2>(device, DType::F32);
    let b = draws[1].tensor::<B, 1>(device, DType::F32);
    let out = add_bias(y.clone(), b.clone())?;
    Ok(outputs_and_grads(
        out,
        &draws[2],
        &[("grad_y", &y), ("grad_bias", &b)],
        device,
    ))
}

/// The full-precision matmul (broadcast batches, degenerate shapes, a cuBLAS-
/// sized product) and the bias add.
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    // (lhs batch, rhs batch, M, K, N): a batch of 1 broadcasts.
    let matmul_shapes = [
        (2, 2, 5, 1, 7),
        (3, 3, 4, 6, 1),
        (1, 1, 1, 9, 3),
        (2, 2, 33, 17, 65),
        (3, 1, 40, 70, 90),
        (1, 4, 8, 5, 6),
        // 2³⁰ multiply-adds in each product: large enough for cuBLAS on CUDA.
        (2, 1, 512, 1024, 1024),
    ];
    for (ga, gb, m, k, n) in matmul_shapes {
        let g = ga.max(gb);
        let draws = [
            cx.draw(&[ga, m, k]),
            cx.draw(&[gb, k, n]),
            cx.draw(&[g, m, n]),
        ];
        versus_cpu!(
            cx,
            format!("matmul ({ga}×{m}×{k})·({gb}×{k}×{n})"),
            run_matmul::<B>(&draws)
        );
    }
    // (rows, cols): prime and composite row counts, one a block-sum shape.
    for (rows, cols) in [(1, 5), (97, 3), (4096, 70)] {
        let draws = [
            cx.draw(&[rows, cols]),
            cx.draw(&[cols]),
            cx.draw(&[rows, cols]),
        ];
        versus_cpu!(
            cx,
            format!("add bias {rows}×{cols}"),
            run_add_bias::<B>(&draws)
        );
    }
    Ok(())
}
