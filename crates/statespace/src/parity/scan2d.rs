//! Parity of Chimera's 2-D scan, forward and every gradient.

use burn::tensor::DType;
use burn::tensor::backend::AutodiffBackend;

use super::harness::{Cx, Draw, GradOf, Leaf, Results, outputs_and_grads, versus_cpu};
use crate::error::Result;
use crate::ops::scan2d::Scan2dInputs;
use crate::ops::{SsmBackend, scan2d};

/// Names of the inputs' gradients, in [`Scan2dInputs`] order.
const GRADS: [&str; 11] = [
    "grad_a1", "grad_a2", "grad_a3", "grad_a4", "grad_dt1", "grad_dt2", "grad_u", "grad_b1",
    "grad_b2", "grad_c1", "grad_c2",
];

/// y (B, T, V, E) and every input's gradient.
fn run_scan2d<B: AutodiffBackend + SsmBackend>(
    draws: &(Scan2dInputs<Draw>, Draw),
    device: &B::Device,
) -> Result<Results> {
    let (inputs, g) = draws;
    let x = inputs
        .as_ref()
        .map(|d| d.tensor::<B, 4>(device, DType::F32));
    let y = scan2d(x.clone())?;
    let leaves = x.into_array();
    let grads: Vec<GradOf<'_, B>> = GRADS
        .iter()
        .zip(&leaves)
        .map(|(&name, leaf)| (name, leaf as &dyn Leaf<B>))
        .collect();
    Ok(outputs_and_grads(y, g, &grads, device))
}

/// `draw` mapped through `f` elementwise.
fn mapped(draw: Draw, f: impl Fn(f32) -> f32) -> Draw {
    Draw {
        data: draw.data.into_iter().map(f).collect(),
        shape: draw.shape,
    }
}

/// One cell, one variate, one time step, and ETTh1's grid (7 variates).
pub(super) fn checks<B: AutodiffBackend + SsmBackend>(cx: &mut Cx<'_, B>) -> Result<()> {
    for [b, t, v, e, n] in [
        [1, 1, 1, 1, 1],
        [2, 9, 1, 3, 2],
        [1, 1, 5, 4, 3],
        [3, 96, 7, 16, 8],
    ] {
        let (p, s, q) = ([1, 1, e, n], [b, t, v, e], [b, t, v, n]);
        let decay = |x: f32| -0.2 - x.abs();
        let step = |x: f32| 0.01 + 0.5 / (1.0 + (-x).exp());
        let inputs = Scan2dInputs {
            a1: mapped(cx.draw(&p), decay),
            a2: mapped(cx.draw(&p), |x| 0.5 * x.tanh()),
            a3: mapped(cx.draw(&p), |x| 0.5 * x.tanh()),
            a4: mapped(cx.draw(&p), decay),
            dt1: mapped(cx.draw(&s), step),
            dt2: mapped(cx.draw(&s), step),
            u: cx.draw(&s),
            b1: cx.draw(&q),
            b2: cx.draw(&q),
            c1: cx.draw(&q),
            c2: cx.draw(&q),
        };
        let draws = (inputs, cx.draw(&s));
        let label = format!("scan2d b{b} T{t} V{v} E{e} N{n}");
        versus_cpu!(cx, label, run_scan2d::<B>(&draws));
    }
    Ok(())
}
