//! The CubeCL kernels of the Vandermonde product, f32. Every power
//! exp(l·w) = e^{l·Re w}·(cos, sin)(l·Im w) is evaluated directly (accurate
//! `exp`, `sin`, `cos`; the phase l·Im w is rounded once), so an entry
//! carries a few ulps of error whatever l.

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

/// Units per cube of both kernels (eight planes of 32 on CUDA).
pub const UNITS: usize = crate::ops::support::launch::LINEAR_UNITS;

/// Planes per cube at most (UNITS over the smallest plane width, 32).
const MAX_PLANES: usize = UNITS / 32;

/// K[c, h, l] = 2·Re Σₘ coef[c, h, m]·exp(l·w[h, m]) with one unit per l:
/// cubes (C·H, ⌈len / UNITS⌉). w (H, `modes`), coef (C, H, `modes`) and
/// K (C, H, `len`) are packed; H = `heads`.
#[cube(launch_unchecked)]
pub fn vandermonde_forward(
    w_re: &Tensor<f32>,
    w_im: &Tensor<f32>,
    coef_re: &Tensor<f32>,
    coef_im: &Tensor<f32>,
    k: &mut Tensor<f32>,
    heads: u32,
    modes: u32,
    len: u32,
) {
    let len = len as usize;
    let l = CUBE_POS_Y as usize * UNITS + UNIT_POS as usize;
    if l >= len {
        terminate!();
    }
    let modes = modes as usize;
    let row = CUBE_POS_X as usize;
    let h = row % heads as usize;
    let position = f32::cast_from(l);
    let mut sum = 0.0f32;
    for m in 0..modes {
        let at = h * modes + m;
        let magnitude = (position * w_re[at]).exp();
        let phase = position * w_im[at];
        let coef = row * modes + m;
        sum += magnitude * (coef_re[coef] * phase.cos() - coef_im[coef] * phase.sin());
    }
    k[row * len + l] = 2.0 * sum;
}

/// The gradients of the product's inputs from g = ∂L/∂K (C, H, `len`), one
/// cube per mode: cubes (H·M), H = `heads`, M = `modes`, C = `channels`. With E = exp(l·w) and,
/// per channel, S = Σ_l g·E and T = Σ_l g·l·E (the cube's units stride l,
/// then reduce):
///
///   ∂coef_re = 2·Re S, ∂coef_im = −2·Im S,
///   ∂w_re = 2·Σ_c Re(coef·T), ∂w_im = −2·Σ_c Im(coef·T).
///
/// All tensors packed, shaped as their inputs.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn vandermonde_backward(
    w_re: &Tensor<f32>,
    w_im: &Tensor<f32>,
    coef_re: &Tensor<f32>,
    coef_im: &Tensor<f32>,
    grad: &Tensor<f32>,
    grad_w_re: &mut Tensor<f32>,
    grad_w_im: &mut Tensor<f32>,
    grad_coef_re: &mut Tensor<f32>,
    grad_coef_im: &mut Tensor<f32>,
    heads: u32,
    modes: u32,
    channels: u32,
    len: u32,
) {
    // Per plane: Re S, Im S, Re T, Im T.
    let mut partial = SharedMemory::<f32>::new(4 * MAX_PLANES);
    let len = len as usize;
    let (heads, modes) = (heads as usize, modes as usize);
    let at = CUBE_POS_X as usize;
    let (h, m) = (at / modes, at % modes);
    let (a, b) = (w_re[at], w_im[at]);
    let mut sum_w_re = 0.0f32;
    let mut sum_w_im = 0.0f32;
    for c in 0..channels as usize {
        let row = c * heads + h;
        let mut s_re = 0.0f32;
        let mut s_im = 0.0f32;
        let mut t_re = 0.0f32;
        let mut t_im = 0.0f32;
        let mut l = UNIT_POS as usize;
        while l < len {
            let position = f32::cast_from(l);
            let magnitude = (position * a).exp();
            let phase = position * b;
            let g = grad[row * len + l];
            let e_re = g * magnitude * phase.cos();
            let e_im = g * magnitude * phase.sin();
            s_re += e_re;
            s_im += e_im;
            t_re += position * e_re;
            t_im += position * e_im;
            l += CUBE_DIM as usize;
        }
        let s_re = plane_sum(s_re);
        let s_im = plane_sum(s_im);
        let t_re = plane_sum(t_re);
        let t_im = plane_sum(t_im);
        if UNIT_POS_PLANE == 0 {
            let base = PLANE_POS as usize * 4;
            partial[base] = s_re;
            partial[base + 1] = s_im;
            partial[base + 2] = t_re;
            partial[base + 3] = t_im;
        }
        sync_cube();
        if UNIT_POS == 0 {
            let mut s_re = 0.0f32;
            let mut s_im = 0.0f32;
            let mut t_re = 0.0f32;
            let mut t_im = 0.0f32;
            for p in 0..(CUBE_DIM / PLANE_DIM) as usize {
                s_re += partial[p * 4];
                s_im += partial[p * 4 + 1];
                t_re += partial[p * 4 + 2];
                t_im += partial[p * 4 + 3];
            }
            let coef = row * modes + m;
            let (cr, ci) = (coef_re[coef], coef_im[coef]);
            grad_coef_re[coef] = 2.0 * s_re;
            grad_coef_im[coef] = -2.0 * s_im;
            sum_w_re += 2.0 * (cr * t_re - ci * t_im);
            sum_w_im -= 2.0 * (cr * t_im + ci * t_re);
        }
        sync_cube();
    }
    if UNIT_POS == 0 {
        grad_w_re[at] = sum_w_re;
        grad_w_im[at] = sum_w_im;
    }
}
