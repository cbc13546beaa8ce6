//! Parity of exact GELU, forward and backward.

use burn::backend::Autodiff;
use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;
use burn_flex::Flex;

use super::harness::{Draw, Results, compare, host, outputs_and_grads};
use crate::error::Result;
use crate::golden::Check;
use crate::ops::{SsmBackend, gelu};

/// GELU of x (any shape), scaled so its tails are reached.
fn run_gelu<B: AutodiffBackend + SsmBackend>(
    draws: &[Draw; 2],
    device: &B::Device,
) -> Result<Results> {
    let x = draws[0].tensor::<B, 3>(device, DType::F32);
    let out = gelu(x.clone().mul_scalar(3.0))?;
    Ok(outputs_and_grads(
        out,
        &draws[1],
        &[("grad_x", &|g| x.grad(g).map(|t| host(&t)))],
        device,
    ))
}

/// Exact GELU, forward and backward.
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(
    draw: &mut impl FnMut(&[usize]) -> Draw,
    device: &B::Device,
    checks: &mut Vec<Check>,
) -> Result<()> {
    let cpu = Default::default();
    for shape in [[1, 1, 1], [2, 37, 5], [64, 33, 128]] {
        let draws = [draw(&shape), draw(&shape)];
        compare(
            format!("gelu {shape:?}"),
            &run_gelu::<B>(&draws, device)?,
            &run_gelu::<Autodiff<Flex>>(&draws, &cpu)?,
            checks,
        );
    }
    Ok(())
}
