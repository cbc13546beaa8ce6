//! The CubeCL kernels of the running sums, f32, x (B, L, F) and every
//! buffer packed; one unit per (b, chunk, f) or per (b, f), features
//! fastest (see [`crate::ops::support::chunk_plan`]).

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

/// Unit (b, c, f) of the chunk passes: the offset of x[b, 0, f], and
/// chunk c's first step and one past its last.
#[cube]
fn chunk_unit(
    unit: usize,
    len: u32,
    chunks: u32,
    features: u32,
    chunk: u32,
) -> (usize, usize, usize) {
    let (len, chunks, features) = (len as usize, chunks as usize, features as usize);
    let f = unit % features;
    let c = (unit / features) % chunks;
    let b = unit / (features * chunks);
    let start = c * chunk as usize;
    let mut end = start + chunk as usize;
    if end > len {
        end = len;
    }
    (b * len * features + f, start, end)
}

/// totals[b, c, f] = Σ of x[b, ·, f] over chunk c. One unit per (b, c, f).
#[cube(launch_unchecked)]
pub fn chunk_totals(
    x: &Tensor<f32>,
    totals: &mut Tensor<f32>,
    len: u32,
    chunks: u32,
    features: u32,
    chunk: u32,
) {
    let unit = ABSOLUTE_POS;
    if unit >= totals.len() {
        terminate!();
    }
    let (base, start, end) = chunk_unit(unit, len, chunks, features, chunk);
    let features = features as usize;
    let mut sum = 0.0f32;
    let mut t = start;
    while t < end {
        sum += x[base + t * features];
        t += 1;
    }
    totals[unit] = sum;
}

/// Turns the chunk totals (B, chunks, F) in place into each chunk's carry:
/// the sum of the chunks before it (after it when `reverse`). One unit per
/// (b, f).
#[cube(launch_unchecked)]
pub fn chunk_carries(
    totals: &mut Tensor<f32>,
    chunks: u32,
    features: u32,
    #[comptime] reverse: bool,
) {
    let unit = ABSOLUTE_POS;
    let (chunks, features) = (chunks as usize, features as usize);
    let b = unit / features;
    if unit >= totals.len() / chunks {
        terminate!();
    }
    let f = unit % features;
    let mut carry = 0.0f32;
    let mut k = 0;
    while k < chunks {
        let c = if reverse { chunks - 1 - k } else { k };
        let at = (b * chunks + c) * features + f;
        let total = totals[at];
        totals[at] = carry;
        carry += total;
        k += 1;
    }
}

/// y[b, t, f] = carry[b, c, f] + the sum of x[b, ·, f] within chunk c up to
/// t (from t to the chunk's end when `reverse`). One unit per (b, c, f).
#[cube(launch_unchecked)]
pub fn chunk_scans(
    x: &Tensor<f32>,
    carries: &Tensor<f32>,
    y: &mut Tensor<f32>,
    len: u32,
    chunks: u32,
    features: u32,
    chunk: u32,
    #[comptime] reverse: bool,
) {
    let unit = ABSOLUTE_POS;
    if unit >= carries.len() {
        terminate!();
    }
    let (base, start, end) = chunk_unit(unit, len, chunks, features, chunk);
    let features = features as usize;
    let mut sum = carries[unit];
    let mut k = start;
    while k < end {
        let t = if reverse { end - 1 - (k - start) } else { k };
        let at = base + t * features;
        sum += x[at];
        y[at] = sum;
        k += 1;
    }
}
