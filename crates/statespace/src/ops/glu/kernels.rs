//! The CubeCL kernels of GLU, f32, packed rows: x and ∂x (N, 2h), y and ∂y
//! (N, h). One unit per output element: consecutive units take consecutive
//! columns of a row, so both halves are read coalesced.

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

/// y[r, j] = x[r, j]·σ(x[r, h + j]).
#[cube(launch_unchecked)]
pub fn glu_forward(x: &Tensor<f32>, y: &mut Tensor<f32>, half: u32) {
    let i = ABSOLUTE_POS;
    if i >= y.len() {
        terminate!();
    }
    let h = half as usize;
    let at = (i / h) * 2 * h + i % h;
    let s = 1.0 / (1.0 + (-x[at + h]).exp());
    y[i] = x[at] * s;
}

/// ∂x[r, j] = ∂y[r, j]·σ(b), ∂x[r, h + j] = ∂y[r, j]·a·σ(b)(1 − σ(b)), with
/// a = x[r, j] and b = x[r, h + j].
#[cube(launch_unchecked)]
pub fn glu_backward(x: &Tensor<f32>, grad: &Tensor<f32>, grad_x: &mut Tensor<f32>, half: u32) {
    let i = ABSOLUTE_POS;
    if i >= grad.len() {
        terminate!();
    }
    let h = half as usize;
    let at = (i / h) * 2 * h + i % h;
    let s = 1.0 / (1.0 + (-x[at + h]).exp());
    let g = grad[i];
    grad_x[at] = g * s;
    grad_x[at + h] = g * x[at] * s * (1.0 - s);
}
