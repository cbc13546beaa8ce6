//! The CubeCL kernels of softmax cross-entropy: logits (and their gradient)
//! stored as `F` (f32, bf16 or f16), arithmetic, loss and lse in f32.

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

/// Units per cube of both kernels (eight planes of 32 on CUDA).
pub const UNITS: usize = crate::ops::support::launch::LINEAR_UNITS;

/// Planes per cube at most (UNITS over the smallest plane width, 32).
const MAX_PLANES: usize = UNITS / 32;

/// loss[n] = lse[n] − x[n, y[n]] and lse[n] for one row of logits x (N,
/// `classes`, packed) per cube: each unit keeps a running maximum and the
/// sum of exp(x − maximum) over its share of the row, then the cube merges
/// them. A label not below `classes` gives the loss `invalid` (the caller
/// passes NaN; a NaN literal does not survive CubeCL's code generation) and
/// never a read outside the row.
#[cube(launch_unchecked)]
pub fn cross_entropy_forward<F: Float, I: Int>(
    logits: &Tensor<F>,
    labels: &Tensor<I>,
    loss: &mut Tensor<f32>,
    lse: &mut Tensor<f32>,
    classes: u32,
    invalid: f32,
    #[define(F, I)] _dtypes: [StorageType; 2],
) {
    let mut shared_max = SharedMemory::<f32>::new(MAX_PLANES);
    let mut shared_sum = SharedMemory::<f32>::new(MAX_PLANES);
    let row = CUBE_POS_X as usize;
    let classes = classes as usize;
    let base = row * classes;
    // Any element of the row serves as the starting reference; a unit that
    // sees no element keeps a zero sum.
    let mut max = f32::cast_from(logits[base]);
    let mut sum = 0.0f32;
    let mut c = UNIT_POS as usize;
    while c < classes {
        let x = f32::cast_from(logits[base + c]);
        if x > max {
            sum = sum * (max - x).exp() + 1.0;
            max = x;
        } else {
            sum += (x - max).exp();
        }
        c += CUBE_DIM as usize;
    }
    let plane_max_value = plane_max(max);
    let plane_total = plane_sum(sum * (max - plane_max_value).exp());
    if UNIT_POS_PLANE == 0 {
        shared_max[PLANE_POS as usize] = plane_max_value;
        shared_sum[PLANE_POS as usize] = plane_total;
    }
    sync_cube();
    if UNIT_POS == 0 {
        let planes = (CUBE_DIM / PLANE_DIM) as usize;
        let mut m = shared_max[0];
        for p in 1..planes {
            m = f32::max(m, shared_max[p]);
        }
        let mut s = 0.0f32;
        for p in 0..planes {
            s += shared_sum[p] * (shared_max[p] - m).exp();
        }
        let log_sum = m + s.ln();
        lse[row] = log_sum;
        let label = labels[row];
        if label >= I::new(0) && label < I::cast_from(classes) {
            loss[row] = log_sum - f32::cast_from(logits[base + usize::cast_from(label)]);
        } else {
            loss[row] = invalid;
        }
    }
}

/// ∂x[n, c] = ∂loss[n] · (exp(x[n, c] − lse[n]) − [c = y[n]]), one unit per
/// element of x (N, `classes`, packed), computed in f32 and stored as `F`.
#[cube(launch_unchecked)]
pub fn cross_entropy_backward<F: Float, I: Int>(
    logits: &Tensor<F>,
    labels: &Tensor<I>,
    lse: &Tensor<f32>,
    grad_loss: &Tensor<f32>,
    grad_logits: &mut Tensor<F>,
    classes: u32,
    #[define(F, I)] _dtypes: [StorageType; 2],
) {
    let i = ABSOLUTE_POS;
    if i >= logits.len() {
        terminate!();
    }
    let classes = classes as usize;
    let row = i / classes;
    let mut value = (f32::cast_from(logits[i]) - lse[row]).exp();
    if labels[row] == I::cast_from(i % classes) {
        value -= 1.0;
    }
    grad_logits[i] = F::cast_from(grad_loss[row] * value);
}
