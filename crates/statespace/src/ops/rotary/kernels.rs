//! The CubeCL kernels of the rotary keys and queries, f32, every tensor
//! packed: x (B·L, R, G, N), bias (H, R, N), θ (B·L, H, S), y and ∂y
//! (B·L, R, H, N). One unit per pair: consecutive units take consecutive
//! pairs of one head.

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

/// The entries of pair `i` of an `n`-vector: (i, i + n/2) when `halves`,
/// (2i, 2i + 1) otherwise.
#[cube]
fn pair_entries(i: usize, n: usize, #[comptime] halves: bool) -> (usize, usize) {
    let mut first = 2 * i;
    let mut second = 2 * i + 1;
    if halves {
        first = i;
        second = i + n / 2;
    }
    (first, second)
}

/// y of one pair: p = x[·, h / (H/G)] + bias[h], rotated by θ[·, h, i]
/// for i < S. One unit per (row, r, h, i < N/2).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn rotary_forward(
    x: &Tensor<f32>,
    bias: &Tensor<f32>,
    theta: &Tensor<f32>,
    y: &mut Tensor<f32>,
    ranks: u32,
    groups: u32,
    heads: u32,
    dstate: u32,
    angles: u32,
    #[comptime] halves: bool,
) {
    let unit = ABSOLUTE_POS;
    if unit >= y.len() / 2 {
        terminate!();
    }
    let (ranks, groups, heads) = (ranks as usize, groups as usize, heads as usize);
    let (n, angles) = (dstate as usize, angles as usize);
    let half = n / 2;
    let i = unit % half;
    let h = (unit / half) % heads;
    let r = (unit / (half * heads)) % ranks;
    let row = unit / (half * heads * ranks);
    let g = h / (heads / groups);
    let (ea, eb) = pair_entries(i, n, halves);
    let x_at = ((row * ranks + r) * groups + g) * n;
    let bias_at = (h * ranks + r) * n;
    let a = x[x_at + ea] + bias[bias_at + ea];
    let b = x[x_at + eb] + bias[bias_at + eb];
    let y_at = ((row * ranks + r) * heads + h) * n;
    if i < angles {
        let t = theta[(row * heads + h) * angles + i];
        let (c, s) = (t.cos(), t.sin());
        y[y_at + ea] = a * c - b * s;
        y[y_at + eb] = a * s + b * c;
    } else {
        y[y_at + ea] = a;
        y[y_at + eb] = b;
    }
}

/// ∂p = R(θ)ᵀ ∂y of one pair for every rank, written to grad_p (B·L, R,
/// H, N), and ∂θ[row, h, i] = Σ_r (g_b a' − gₐ b') for i < S. One unit per
/// (row, h, i < N/2).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn rotary_backward(
    x: &Tensor<f32>,
    bias: &Tensor<f32>,
    theta: &Tensor<f32>,
    grad: &Tensor<f32>,
    grad_p: &mut Tensor<f32>,
    grad_theta: &mut Tensor<f32>,
    ranks: u32,
    groups: u32,
    heads: u32,
    dstate: u32,
    angles: u32,
    #[comptime] halves: bool,
) {
    let unit = ABSOLUTE_POS;
    let (ranks, groups, heads) = (ranks as usize, groups as usize, heads as usize);
    let (n, angles) = (dstate as usize, angles as usize);
    if unit >= grad.len() / (2 * ranks) {
        terminate!();
    }
    let half = n / 2;
    let i = unit % half;
    let h = (unit / half) % heads;
    let row = unit / (half * heads);
    let g = h / (heads / groups);
    let (ea, eb) = pair_entries(i, n, halves);
    let mut c = 1.0f32;
    let mut s = 0.0f32;
    if i < angles {
        let t = theta[(row * heads + h) * angles + i];
        c = t.cos();
        s = t.sin();
    }
    let mut d_theta = 0.0f32;
    let mut r = 0;
    while r < ranks {
        let x_at = ((row * ranks + r) * groups + g) * n;
        let bias_at = (h * ranks + r) * n;
        let a = x[x_at + ea] + bias[bias_at + ea];
        let b = x[x_at + eb] + bias[bias_at + eb];
        let y_at = ((row * ranks + r) * heads + h) * n;
        let (ga, gb) = (grad[y_at + ea], grad[y_at + eb]);
        grad_p[y_at + ea] = ga * c + gb * s;
        grad_p[y_at + eb] = gb * c - ga * s;
        d_theta += gb * (a * c - b * s) - ga * (a * s + b * c);
        r += 1;
    }
    if i < angles {
        grad_theta[(row * heads + h) * angles + i] = d_theta;
    }
}
