//! Parity of the full-precision matmul (broadcast batches, degenerate shapes, a
//! cuBLAS-sized product; bf16 and f16 operands, as mixed-precision training
//! multiplies; f32 on TF32 tensor cores where allowed) and the bias add.

use burn::backend::Autodiff;
use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;
use burn_flex::Flex;

use super::harness::{
    Cx, Draw, Results, compare_within, half_versus_f32, outputs_and_grads, versus_cpu,
};
use crate::error::Result;
use crate::golden::{Check, rel_err};
use crate::layers::linear::project;
use crate::ops::matmul::allow_tf32;
use crate::ops::{SsmBackend, add_bias, matmul};

/// Tolerance of f32 products on TF32 tensor cores (operands rounded to 11
/// significant bits, f32 sums) against the CPU's f32.
pub const TOLERANCE_TF32: f64 = 2e-3;

/// The least difference from f32 that shows a TF32 product ran on the
/// tensor cores (f32 routines differ from the CPU by about 1e-7 here).
const TF32_CONTROL_MIN: f64 = 1e-5;

/// The product of draws 0 and 1 stored as `dtype`, and both gradients
/// under the output gradient of draw 2.
fn run_matmul<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 3],
    dtype: DType,
    device: &B::Device,
) -> Result<Results> {
    let a = draws[0].tensor::<B, 3>(device, dtype);
    let b = draws[1].tensor::<B, 3>(device, dtype);
    let out = matmul(a.clone(), b.clone())?;
    Ok(outputs_and_grads(
        out,
        &draws[2],
        &[("grad_lhs", &a), ("grad_rhs", &b)],
        device,
    ))
}

/// A linear projection of the first `k` columns of a wider (B, L, W)
/// tensor, as Mamba projects Δ from the front of x_proj's output: at L = 1
/// the narrowed view (B, 1, k) has rows W apart, and its reshape to (B, k)
/// may keep that stride.
fn run_project_view<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 3],
    device: &B::Device,
) -> Result<Results> {
    let wide = draws[0].tensor::<B, 3>(device, DType::F32);
    let w = draws[1].tensor::<B, 2>(device, DType::F32);
    let k = w.dims()[1];
    let out = project(wide.clone().narrow(2, 0, k), w.clone(), None)?;
    Ok(outputs_and_grads(
        out,
        &draws[2],
        &[("grad_x", &wide), ("grad_w", &w)],
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
            run_matmul::<B>(&draws, DType::F32)
        );
    }
    // (B, L, W, K, N): Δ's projection in a Mamba layer stepping one or two
    // positions at a time.
    for (bt, len, width, k, n) in [(3, 1, 33, 1, 16), (3, 2, 33, 1, 16), (3, 1, 33, 4, 16)] {
        let draws = [
            cx.draw(&[bt, len, width]),
            cx.draw(&[n, k]),
            cx.draw(&[bt, len, n]),
        ];
        versus_cpu!(
            cx,
            format!("project of a narrowed view B{bt} L{len} W{width} K{k} N{n}"),
            run_project_view::<B>(&draws)
        );
    }
    // 16-bit operands against the CPU in f32 on the same rounded values: a
    // product below cuBLAS's size (burn's routine), and three whose
    // reduction is long enough for cuBLAS at any size, cheap on the CPU: in
    // the forward product, in ∂rhs (lhsᵀ, a transposed view, over M rows)
    // and in ∂lhs (rhsᵀ over N columns).
    for dtype in [DType::BF16, DType::F16] {
        for (g, m, k, n) in [
            (2, 33, 17, 65),
            (2, 8, 4096, 24),
            (1, 4096, 8, 24),
            (2, 8, 24, 4096),
        ] {
            let draws = [
                cx.draw(&[g, m, k]),
                cx.draw(&[1, k, n]),
                cx.draw(&[g, m, n]),
            ];
            half_versus_f32!(
                cx,
                format!("matmul ({g}×{m}×{k})·(1×{k}×{n})"),
                dtype,
                run_matmul::<B>(draws)
            );
        }
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

/// f32 products with TF32 allowed, and both gradients, against the CPU's
/// f32: a cuBLAS-sized product (cuBLAS's TF32 compute type) and one below
/// (burn's tensor-core routine), within [`TOLERANCE_TF32`]. For the first,
/// a control that the setting acts: its output differs from f32 by at least
/// [`TF32_CONTROL_MIN`] (so these checks are for GPUs: the CPU ignores the
/// setting). The setting is restored after each run.
pub(super) fn tf32_checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    for (g, m, k, n, control) in [(2, 512, 1024, 1024, true), (2, 33, 64, 65, false)] {
        let draws = [
            cx.draw(&[g, m, k]),
            cx.draw(&[1, k, n]),
            cx.draw(&[g, m, n]),
        ];
        let ours = {
            let _tf32 = allow_tf32(true);
            run_matmul::<B>(&draws, DType::F32, cx.device)?
        };
        let cpu = run_matmul::<Autodiff<Flex>>(&draws, DType::F32, &Default::default())?;
        let label = format!("matmul ({g}×{m}×{k})·(1×{k}×{n}) with TF32 vs f32");
        compare_within(label.clone(), &ours, &cpu, TOLERANCE_TF32, cx.checks);
        if control {
            let moved = rel_err(&ours[0].1, &cpu[0].1);
            cx.checks.push(Check {
                what: format!(
                    "{label}: the output differs from f32's (by {moved:.1e}, at least {TF32_CONTROL_MIN:.0e})"
                ),
                error: if moved >= TF32_CONTROL_MIN { 0.0 } else { 1.0 },
                tolerance: 0.0,
            });
        }
    }
    Ok(())
}
