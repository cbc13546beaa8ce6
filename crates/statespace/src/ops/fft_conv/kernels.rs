//! The CubeCL kernels around cuFFT's transforms in the GPU convolution:
//! moving channel-last sequences to zero-padded rows and back (through
//! shared-memory tiles, so both sides are read and written in order), the
//! per-frequency complex products of the forward and backward passes, and
//! the column sums of ∂d.
//! All f32; spectra are interleaved (re, im) pairs, F = n/2 + 1 per row.

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

use super::plan::{TILE, TILE_ROWS};

/// Rows of a channel-last sequence: x[(b·J + j)·n + t] = s[(b·L + t)·J + j]
/// for t < L, zero for L ≤ t < n; s is (B, L, J), x is (B, J, n). Cubes:
/// (⌈n/TILE⌉, ⌈J/TILE⌉, B).
#[cube(launch_unchecked)]
pub fn padded_rows(s: &Tensor<f32>, x: &mut Tensor<f32>, len: u32, channels: u32, n: u32) {
    let (len, channels, n) = (len as usize, channels as usize, n as usize);
    let mut tile = SharedMemory::<f32>::new(TILE * (TILE + 1));
    let (t0, j0, b) = (
        CUBE_POS_X as usize * TILE,
        CUBE_POS_Y as usize * TILE,
        CUBE_POS_Z as usize,
    );
    let (ux, uy) = (UNIT_POS_X as usize, UNIT_POS_Y as usize);
    // Read along the channels, coalesced.
    for i in 0..TILE / TILE_ROWS {
        let r = uy + i * TILE_ROWS;
        let (t, j) = (t0 + r, j0 + ux);
        let mut v = 0.0f32;
        if t < len && j < channels {
            v = s[(b * len + t) * channels + j];
        }
        tile[r * (TILE + 1) + ux] = v;
    }
    sync_cube();
    // Write along time, coalesced.
    for i in 0..TILE / TILE_ROWS {
        let r = uy + i * TILE_ROWS;
        let (j, t) = (j0 + r, t0 + ux);
        if j < channels && t < n {
            x[(b * channels + j) * n + t] = tile[ux * (TILE + 1) + r];
        }
    }
}

/// The first L samples of rows back to channel-last, scaled, plus skip
/// terms: out[b, t, j] = scale·x[(b·J + j)·n + t]
///   + Σ_{i < terms} w[(i·J + j) mod Jw] · s[(b·L + t)·Js + (i·J + j) mod Js],
/// with x (B, J, n), s (B, L, Js), w (Jw), out (B, L, J). Cubes:
/// (⌈L/TILE⌉, ⌈J/TILE⌉, B).
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn rows_to_sequence(
    x: &Tensor<f32>,
    s: &Tensor<f32>,
    w: &Tensor<f32>,
    out: &mut Tensor<f32>,
    len: u32,
    channels: u32,
    n: u32,
    skip_channels: u32,
    terms: u32,
    scale: f32,
) {
    let (len, channels, n) = (len as usize, channels as usize, n as usize);
    let (skip_channels, terms) = (skip_channels as usize, terms as usize);
    let weights = w.len();
    let mut tile = SharedMemory::<f32>::new(TILE * (TILE + 1));
    let (t0, j0, b) = (
        CUBE_POS_X as usize * TILE,
        CUBE_POS_Y as usize * TILE,
        CUBE_POS_Z as usize,
    );
    let (ux, uy) = (UNIT_POS_X as usize, UNIT_POS_Y as usize);
    // Read along time, coalesced.
    for i in 0..TILE / TILE_ROWS {
        let r = uy + i * TILE_ROWS;
        let (j, t) = (j0 + r, t0 + ux);
        let mut v = 0.0f32;
        if j < channels && t < len {
            v = x[(b * channels + j) * n + t];
        }
        tile[r * (TILE + 1) + ux] = v;
    }
    sync_cube();
    // Write along the channels, coalesced.
    for i in 0..TILE / TILE_ROWS {
        let r = uy + i * TILE_ROWS;
        let (t, j) = (t0 + r, j0 + ux);
        if t < len && j < channels {
            let mut v = scale * tile[ux * (TILE + 1) + r];
            for term in 0..terms {
                let k = term * channels + j;
                v += w[k % weights] * s[(b * len + t) * skip_channels + k % skip_channels];
            }
            out[(b * len + t) * channels + j] = v;
        }
    }
}

/// y[b, c, h] = u[b, h] · k[c, h] per frequency: u (B, H, F), k (C, H, F),
/// y (B, C, H, F), complex. One unit per output frequency.
#[cube(launch_unchecked)]
pub fn spectra_product(
    u: &Tensor<f32>,
    k: &Tensor<f32>,
    y: &mut Tensor<f32>,
    kernels: u32,
    channels: u32,
    bins: u32,
) {
    let (kernels, channels, bins) = (kernels as usize, channels as usize, bins as usize);
    let pos = ABSOLUTE_POS;
    if pos * 2 >= y.len() {
        terminate!();
    }
    let f = pos % bins;
    let h = (pos / bins) % channels;
    let c = (pos / (bins * channels)) % kernels;
    let b = pos / (bins * channels * kernels);
    let ui = ((b * channels + h) * bins + f) * 2;
    let ki = ((c * channels + h) * bins + f) * 2;
    let (ur, uim, kr, kim) = (u[ui], u[ui + 1], k[ki], k[ki + 1]);
    y[pos * 2] = ur * kr - uim * kim;
    y[pos * 2 + 1] = ur * kim + uim * kr;
}

/// The two correlations of the backward pass per frequency, with gy
/// (B, C, H, F): `over_kernels` gives du[b, h] = Σ_c conj(k[c, h])·gy[b, c, h]
/// (`other` = k (C, H, F), out (B, H, F)); otherwise
/// dk[c, h] = Σ_b conj(u[b, h])·gy[b, c, h] (`other` = u (B, H, F),
/// out (C, H, F)). One unit per output frequency.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn spectra_correlation(
    other: &Tensor<f32>,
    gy: &Tensor<f32>,
    out: &mut Tensor<f32>,
    batch: u32,
    kernels: u32,
    channels: u32,
    bins: u32,
    #[comptime] over_kernels: bool,
) {
    let (batch, kernels) = (batch as usize, kernels as usize);
    let (channels, bins) = (channels as usize, bins as usize);
    let pos = ABSOLUTE_POS;
    if pos * 2 >= out.len() {
        terminate!();
    }
    let f = pos % bins;
    let h = (pos / bins) % channels;
    // The output's leading index: b for du, c for dk.
    let lead = pos / (bins * channels);
    let terms = if over_kernels { kernels } else { batch };
    let mut re = 0.0f32;
    let mut im = 0.0f32;
    for i in 0..terms {
        let (b, c) = if over_kernels { (lead, i) } else { (i, lead) };
        let oi = ((i * channels + h) * bins + f) * 2;
        let gi = (((b * kernels + c) * channels + h) * bins + f) * 2;
        let (or, oim, gr, gim) = (other[oi], other[oi + 1], gy[gi], gy[gi + 1]);
        // conj(o) · g
        re += or * gr + oim * gim;
        im += or * gim - oim * gr;
    }
    out[pos * 2] = re;
    out[pos * 2 + 1] = im;
}

/// Column sums of x (R, J) over strips of `strip` rows (a multiple of
/// TILE_ROWS), each term weighted by u[r, j mod H] when `weighted` (u (R, H),
/// read only then):
/// out[s, j] = Σ_{s·strip ≤ r < min((s + 1)·strip, R)} x[r, j]·u[r, j mod H].
/// Cubes (⌈J/TILE⌉, strips), units (TILE, TILE_ROWS): unit (ux, uy) adds the
/// strip's rows uy, uy + TILE_ROWS, … of column j (reads along the columns,
/// coalesced), then the TILE_ROWS lanes are added in shared memory.
#[cube(launch_unchecked)]
#[allow(clippy::too_many_arguments)]
pub fn strip_column_sums(
    x: &Tensor<f32>,
    u: &Tensor<f32>,
    out: &mut Tensor<f32>,
    rows: u32,
    cols: u32,
    channels: u32,
    strip: u32,
    #[comptime] weighted: bool,
) {
    let (rows, cols) = (rows as usize, cols as usize);
    let (channels, strip) = (channels as usize, strip as usize);
    let (ux, uy) = (UNIT_POS_X as usize, UNIT_POS_Y as usize);
    let j = CUBE_POS_X as usize * TILE + ux;
    let first = CUBE_POS_Y as usize * strip;
    let mut lanes = SharedMemory::<f32>::new(TILE * TILE_ROWS);
    let mut acc = 0.0f32;
    if j < cols {
        for i in 0..strip / TILE_ROWS {
            let r = first + i * TILE_ROWS + uy;
            if r < rows {
                let mut v = x[r * cols + j];
                if weighted {
                    v *= u[r * channels + j % channels];
                }
                acc += v;
            }
        }
    }
    lanes[uy * TILE + ux] = acc;
    sync_cube();
    if uy == 0 && j < cols {
        let mut total = 0.0f32;
        for lane in 0..TILE_ROWS {
            total += lanes[lane * TILE + ux];
        }
        out[CUBE_POS_Y as usize * cols + j] = total;
    }
}
