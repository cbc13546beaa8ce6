//! The CubeCL kernels of the diagonal scan, f32, split-complex rows of 2F
//! (real parts, then imaginary parts), every buffer packed; one unit per
//! (b, chunk, f) or per (b, f), lanes fastest (see
//! [`crate::ops::support::chunk_plan`]).

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

/// Unit (b, c, f) of the chunk passes: the offset of u[b, 0, f] (its real
/// part; the imaginary part is F further), lane f, chunk c's first step and
/// one past its last.
#[cube]
fn chunk_unit(
    unit: usize,
    len: u32,
    chunks: u32,
    lanes: u32,
    chunk: u32,
) -> (usize, usize, usize, usize) {
    let (len, chunks, lanes) = (len as usize, chunks as usize, lanes as usize);
    let f = unit % lanes;
    let c = (unit / lanes) % chunks;
    let b = unit / (lanes * chunks);
    let start = c * chunk as usize;
    let mut end = start + chunk as usize;
    if end > len {
        end = len;
    }
    (b * len * 2 * lanes + f, f, start, end)
}

/// λ^n by squaring, (re, im).
#[cube]
fn complex_power(re: f32, im: f32, n: u32) -> (f32, f32) {
    let mut pr = 1.0f32;
    let mut pi = 0.0f32;
    let mut br = re;
    let mut bi = im;
    let mut e = n;
    while e > 0 {
        if e % 2 == 1 {
            let r = pr * br - pi * bi;
            pi = pr * bi + pi * br;
            pr = r;
        }
        let r = br * br - bi * bi;
        bi *= 2.0 * br;
        br = r;
        e /= 2;
    }
    (pr, pi)
}

/// λ·s + u for complex λ = (lr, li), s = (sr, si), u = (ur, ui): one step
/// of the recurrence, (re, im).
#[cube]
fn step(lr: f32, li: f32, sr: f32, si: f32, ur: f32, ui: f32) -> (f32, f32) {
    (lr * sr - li * si + ur, lr * si + li * sr + ui)
}

/// totals[b, c] = the chunk's scan from zero at its last step (its first
/// when `reverse`): Σ over the chunk of λ^(steps after t)·u[t]. One unit
/// per (b, c, f); totals (B, chunks, 2F).
#[cube(launch_unchecked)]
pub fn chunk_totals(
    lambda: &Tensor<f32>,
    u: &Tensor<f32>,
    totals: &mut Tensor<f32>,
    len: u32,
    chunks: u32,
    lanes: u32,
    chunk: u32,
    #[comptime] reverse: bool,
) {
    let unit = ABSOLUTE_POS;
    if unit >= totals.len() / 2 {
        terminate!();
    }
    let (base, f, start, end) = chunk_unit(unit, len, chunks, lanes, chunk);
    let lanes = lanes as usize;
    let (lr, li) = (lambda[f], lambda[lanes + f]);
    let mut sr = 0.0f32;
    let mut si = 0.0f32;
    let mut k = start;
    while k < end {
        let t = if reverse { end - 1 - (k - start) } else { k };
        let at = base + t * 2 * lanes;
        let (r, i) = step(lr, li, sr, si, u[at], u[at + lanes]);
        sr = r;
        si = i;
        k += 1;
    }
    let out = (unit - f) * 2 + f;
    totals[out] = sr;
    totals[out + lanes] = si;
}

/// Turns the chunk totals (B, chunks, 2F) in place into each chunk's carry:
/// the state entering it, x0 for the first chunk in scan order, then
/// carry' = λ^(chunk's steps)·carry + total. One unit per (b, f).
#[cube(launch_unchecked)]
pub fn chunk_carries(
    lambda: &Tensor<f32>,
    x0: &Tensor<f32>,
    totals: &mut Tensor<f32>,
    len: u32,
    chunks: u32,
    lanes: u32,
    chunk: u32,
    #[comptime] reverse: bool,
) {
    let unit = ABSOLUTE_POS;
    if unit >= x0.len() / 2 {
        terminate!();
    }
    let (chunks, lanes) = (chunks as usize, lanes as usize);
    let f = unit % lanes;
    let b = unit / lanes;
    let (lr, li) = (lambda[f], lambda[lanes + f]);
    let (full_r, full_i) = complex_power(lr, li, chunk);
    let mut cr = x0[b * 2 * lanes + f];
    let mut ci = x0[b * 2 * lanes + lanes + f];
    let mut k = 0;
    while k < chunks {
        let c = if reverse { chunks - 1 - k } else { k };
        let at = (b * chunks + c) * 2 * lanes + f;
        let (tr, ti) = (totals[at], totals[at + lanes]);
        totals[at] = cr;
        totals[at + lanes] = ci;
        let mut steps = len - c as u32 * chunk;
        if steps > chunk {
            steps = chunk;
        }
        let mut pr = full_r;
        let mut pi = full_i;
        if steps != chunk {
            let (r, i) = complex_power(lr, li, steps);
            pr = r;
            pi = i;
        }
        let (r, i) = step(pr, pi, cr, ci, tr, ti);
        cr = r;
        ci = i;
        k += 1;
    }
}

/// x[b, t] for t in chunk c: the recurrence from the chunk's carry. One
/// unit per (b, c, f).
#[cube(launch_unchecked)]
pub fn chunk_scans(
    lambda: &Tensor<f32>,
    u: &Tensor<f32>,
    carries: &Tensor<f32>,
    x: &mut Tensor<f32>,
    len: u32,
    chunks: u32,
    lanes: u32,
    chunk: u32,
    #[comptime] reverse: bool,
) {
    let unit = ABSOLUTE_POS;
    if unit >= carries.len() / 2 {
        terminate!();
    }
    let (base, f, start, end) = chunk_unit(unit, len, chunks, lanes, chunk);
    let lanes = lanes as usize;
    let (lr, li) = (lambda[f], lambda[lanes + f]);
    let at = (unit - f) * 2 + f;
    let mut sr = carries[at];
    let mut si = carries[at + lanes];
    let mut k = start;
    while k < end {
        let t = if reverse { end - 1 - (k - start) } else { k };
        let at = base + t * 2 * lanes;
        let (r, i) = step(lr, li, sr, si, u[at], u[at + lanes]);
        sr = r;
        si = i;
        x[at] = sr;
        x[at + lanes] = si;
        k += 1;
    }
}
