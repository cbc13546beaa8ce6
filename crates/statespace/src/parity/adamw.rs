//! Parity of the optimiser's kernels: the AdamW update and the squared-norm sum.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData, TensorPrimitive};

use super::harness::{Cx, Draw, Results, host, versus_cpu};
use crate::error::Result;
use crate::ops::{AdamWOps, AdamWScalars};

/// One AdamW step (param′, m′, v′) on the inner backend of `B`, where the
/// optimiser runs, from flat draws of param, grad, m and v.
fn run_adamw<B: AutodiffBackend>(draws: &[Draw; 4], device: &B::Device) -> Result<Results>
where
    B::InnerBackend: AdamWOps,
{
    let flat = |d: &Draw| {
        Tensor::<B::InnerBackend, 1>::from_data(
            TensorData::new(d.data.clone(), d.shape.clone()),
            device,
        )
        .into_primitive()
        .tensor()
    };
    let scalars = AdamWScalars {
        lr: 0.003,
        weight_decay: 0.05,
        beta1: 0.9,
        beta2: 0.999,
        eps: 1e-8,
        step: 3,
        grad_scale: 0.7,
    };
    let (param, m, v) = B::InnerBackend::adamw_update(
        flat(&draws[0]),
        flat(&draws[1]),
        flat(&draws[2]),
        flat(&draws[3]),
        &scalars,
    );
    let host = |t| {
        host(&Tensor::<B::InnerBackend, 1>::from_primitive(
            TensorPrimitive::Float(t),
        ))
    };
    Ok(vec![("param", host(param)), ("m", host(m)), ("v", host(v))])
}

/// Σ x² over several flat draws, on the inner backend of `B`.
fn run_sum_of_squares<B: AutodiffBackend>(draws: &[Draw], device: &B::Device) -> Result<Results>
where
    B::InnerBackend: AdamWOps,
{
    let tensors = draws
        .iter()
        .map(|d| {
            Tensor::<B::InnerBackend, 1>::from_data(
                TensorData::new(d.data.clone(), d.shape.clone()),
                device,
            )
            .into_primitive()
            .tensor()
        })
        .collect();
    let total = B::InnerBackend::sum_of_squares(tensors, device);
    Ok(vec![(
        "sum",
        host(&Tensor::<B::InnerBackend, 1>::from_primitive(
            TensorPrimitive::Float(total),
        )),
    )])
}

/// The optimiser's kernels: the AdamW update and the squared-norm sum.
pub(super) fn checks<B: AutodiffBackend>(cx: &mut Cx<'_, B>) -> Result<()>
where
    B::InnerBackend: AdamWOps,
{
    // The optimiser's kernels: odd lengths, one longer than a launch's cubes.
    for n in [1, 1000, 300_001] {
        let mut v = cx.draw(&[n]);
        v.data.iter_mut().for_each(|x| *x = x.abs());
        let draws = [cx.draw(&[n]), cx.draw(&[n]), cx.draw(&[n]), v];
        versus_cpu!(cx, format!("adamw n{n}"), run_adamw::<B>(&draws));
    }
    let draws = [cx.draw(&[1]), cx.draw(&[1000]), cx.draw(&[300_001])];
    versus_cpu!(cx, "sum of squares".into(), run_sum_of_squares::<B>(&draws));
    Ok(())
}
