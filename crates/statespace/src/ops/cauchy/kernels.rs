//! The CubeCL kernels of the Cauchy product, f32, with w = 1/(s − z) formed
//! as conj(s − z)/|s − z|².

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

/// Units per cube of both kernels (eight planes of 32 on CUDA).
pub const UNITS: usize = crate::ops::support::launch::LINEAR_UNITS;

/// Planes per cube at most (UNITS over the smallest plane width, 32).
const MAX_PLANES: usize = UNITS / 32;

/// y[h, r, k] = Σₘ v[h, r, m]·w[h, m, k] with one unit per node k: cubes
/// (H·R, ⌈S / UNITS⌉). v (H, R, `modes`), z (H, `modes`), the nodes (S) and
/// y (2, H, R, S) are packed; `rows` = R.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn cauchy_forward(
    v_re: &Tensor<f32>,
    v_im: &Tensor<f32>,
    z_re: &Tensor<f32>,
    z_im: &Tensor<f32>,
    s_re: &Tensor<f32>,
    s_im: &Tensor<f32>,
    y: &mut Tensor<f32>,
    rows: u32,
    modes: u32,
) {
    let count = s_re.len();
    let k = CUBE_POS_Y as usize * UNITS + UNIT_POS as usize;
    if k >= count {
        terminate!();
    }
    let modes = modes as usize;
    let row = CUBE_POS_X as usize;
    let h = row / rows as usize;
    let (s_r, s_i) = (s_re[k], s_im[k]);
    let mut sum_re = 0.0f32;
    let mut sum_im = 0.0f32;
    for m in 0..modes {
        let d_re = s_r - z_re[h * modes + m];
        let d_im = s_i - z_im[h * modes + m];
        let scale = 1.0f32 / (d_re * d_re + d_im * d_im);
        let (w_re, w_im) = (d_re * scale, -d_im * scale);
        let (a, b) = (v_re[row * modes + m], v_im[row * modes + m]);
        sum_re += a * w_re - b * w_im;
        sum_im += a * w_im + b * w_re;
    }
    y[row * count + k] = sum_re;
    y[(CUBE_COUNT_X as usize + row) * count + k] = sum_im;
}

/// The gradients of v and z from g = ∂L/∂y (2, H, R, S), one cube per mode
/// (h, m): cubes (H·M). Per row r the units stride the nodes for
/// S₁ = Σ_k g·conj(w) and S₂ = Σ_k g·conj(w²), then reduce:
/// ∂v[h, r, m] = S₁, ∂z[h, m] = Σ_r S₂·conj(v[h, r, m]). All tensors packed,
/// shaped as their inputs; `rows` = R, `modes` = M.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn cauchy_backward(
    v_re: &Tensor<f32>,
    v_im: &Tensor<f32>,
    z_re: &Tensor<f32>,
    z_im: &Tensor<f32>,
    s_re: &Tensor<f32>,
    s_im: &Tensor<f32>,
    grad: &Tensor<f32>,
    grad_v_re: &mut Tensor<f32>,
    grad_v_im: &mut Tensor<f32>,
    grad_z_re: &mut Tensor<f32>,
    grad_z_im: &mut Tensor<f32>,
    rows: u32,
    modes: u32,
) {
    // Per plane: Re S₁, Im S₁, Re S₂, Im S₂.
    let mut partial = SharedMemory::<f32>::new(4 * MAX_PLANES);
    let count = s_re.len();
    let (rows, modes) = (rows as usize, modes as usize);
    let at = CUBE_POS_X as usize;
    let (h, m) = (at / modes, at % modes);
    let (z_r, z_i) = (z_re[at], z_im[at]);
    // Offset of the imaginary half of g: H·R·S.
    let imaginary = grad_v_re.len() / modes * count;
    let mut sum_z_re = 0.0f32;
    let mut sum_z_im = 0.0f32;
    for r in 0..rows {
        let row = (h * rows + r) * count;
        let mut s1_re = 0.0f32;
        let mut s1_im = 0.0f32;
        let mut s2_re = 0.0f32;
        let mut s2_im = 0.0f32;
        let mut k = UNIT_POS as usize;
        while k < count {
            let d_re = s_re[k] - z_r;
            let d_im = s_im[k] - z_i;
            let scale = 1.0f32 / (d_re * d_re + d_im * d_im);
            // conj(w) = (s − z)/|s − z|², conj(w²) = conj(w)².
            let (cw_re, cw_im) = (d_re * scale, d_im * scale);
            let (cw2_re, cw2_im) = (cw_re * cw_re - cw_im * cw_im, 2.0 * cw_re * cw_im);
            let (g_re, g_im) = (grad[row + k], grad[imaginary + row + k]);
            s1_re += g_re * cw_re - g_im * cw_im;
            s1_im += g_re * cw_im + g_im * cw_re;
            s2_re += g_re * cw2_re - g_im * cw2_im;
            s2_im += g_re * cw2_im + g_im * cw2_re;
            k += CUBE_DIM as usize;
        }
        let s1_re = plane_sum(s1_re);
        let s1_im = plane_sum(s1_im);
        let s2_re = plane_sum(s2_re);
        let s2_im = plane_sum(s2_im);
        if UNIT_POS_PLANE == 0 {
            let base = PLANE_POS as usize * 4;
            partial[base] = s1_re;
            partial[base + 1] = s1_im;
            partial[base + 2] = s2_re;
            partial[base + 3] = s2_im;
        }
        sync_cube();
        if UNIT_POS == 0 {
            let mut s1_re = 0.0f32;
            let mut s1_im = 0.0f32;
            let mut s2_re = 0.0f32;
            let mut s2_im = 0.0f32;
            for p in 0..(CUBE_DIM / PLANE_DIM) as usize {
                s1_re += partial[p * 4];
                s1_im += partial[p * 4 + 1];
                s2_re += partial[p * 4 + 2];
                s2_im += partial[p * 4 + 3];
            }
            let v_at = (h * rows + r) * modes + m;
            let (a, b) = (v_re[v_at], v_im[v_at]);
            grad_v_re[v_at] = s1_re;
            grad_v_im[v_at] = s1_im;
            // S₂·conj(v).
            sum_z_re += s2_re * a + s2_im * b;
            sum_z_im += s2_im * a - s2_re * b;
        }
        sync_cube();
    }
    if UNIT_POS == 0 {
        grad_z_re[at] = sum_z_re;
        grad_z_im[at] = sum_z_im;
    }
}
