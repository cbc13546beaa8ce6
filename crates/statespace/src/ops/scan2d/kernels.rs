//! The CubeCL kernels of the 2-D scan, f32, every buffer packed: one unit
//! per (b, e, n), unit = (b·E + e)·N + n, walking its grid time-major.
//! Per-unit results that several units share (y summed over the states,
//! B and C gradients summed over the channels, the parameters' gradients
//! over the batch) are written per unit as "parts" that tensor ops sum.
//!
//! Index names: `at` a cell of (B, T, V), `se = at·E + e` its channel row,
//! `sn = at·N + n` its state row, `part = se·N + n` the unit's entry of a
//! (B, T, V, E, N) buffer, `here` the unit's entry of a (B, E, N, T, V)
//! state buffer.

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

/// (b, e, n, p = e·N + n) of a unit.
#[cube]
fn unit_indices(unit: usize, channels: u32, states: u32) -> (usize, usize, usize, usize) {
    let (channels, states) = (channels as usize, states as usize);
    let n = unit % states;
    let e = (unit / states) % channels;
    let b = unit / (states * channels);
    (b, e, n, e * states + n)
}

/// E₁(x) = (eˣ − 1)/x, by its series below |x| = 1/2 (`zoh.rs`, whose
/// terms these are to k = 8: the next is under 10⁻⁹ of the sum).
#[cube]
fn e1(x: f32) -> f32 {
    let mut out = (x.exp() - 1.0) / x;
    if x.abs() < 0.5 {
        // Σ xᵏ/(k+1)!
        out = 1.0
            + x * (1.0 / 2.0
                + x * (1.0 / 6.0
                    + x * (1.0 / 24.0
                        + x * (1.0 / 120.0
                            + x * (1.0 / 720.0
                                + x * (1.0 / 5040.0
                                    + x * (1.0 / 40320.0 + x * (1.0 / 362880.0))))))));
    }
    out
}

/// E₂(x) = ((x − 1)eˣ + 1)/x² = (eˣ − E₁(x))/x, by its series below
/// |x| = 1/2, as [`e1`].
#[cube]
fn e2(x: f32) -> f32 {
    let mut out = (x.exp() - e1(x)) / x;
    if x.abs() < 0.5 {
        // Σ (k+1)·xᵏ/(k+2)!
        out = 1.0 / 2.0
            + x * (1.0 / 3.0
                + x * (1.0 / 8.0
                    + x * (1.0 / 30.0
                        + x * (1.0 / 144.0
                            + x * (1.0 / 840.0
                                + x * (1.0 / 5760.0
                                    + x * (1.0 / 45360.0 + x * (1.0 / 403200.0))))))));
    }
    out
}

/// The forward pass of each unit: its states h¹, h² (B, E, N, T, V) and its
/// share of y, parts (B, T, V, E, N) (y sums them over N).
#[cube(launch_unchecked)]
pub fn scan2d_forward(
    a1: &Tensor<f32>,
    a2: &Tensor<f32>,
    a3: &Tensor<f32>,
    a4: &Tensor<f32>,
    dt1: &Tensor<f32>,
    dt2: &Tensor<f32>,
    u: &Tensor<f32>,
    b1: &Tensor<f32>,
    b2: &Tensor<f32>,
    c1: &Tensor<f32>,
    c2: &Tensor<f32>,
    h1s: &mut Tensor<f32>,
    h2s: &mut Tensor<f32>,
    parts: &mut Tensor<f32>,
    units: u32,
    time: u32,
    variates: u32,
    channels: u32,
    states: u32,
) {
    let unit = ABSOLUTE_POS;
    if unit >= units as usize {
        terminate!();
    }
    let (b, e, n, p) = unit_indices(unit, channels, states);
    let (time, variates) = (time as usize, variates as usize);
    let (channels, states) = (channels as usize, states as usize);
    let (w1, w2, w3, w4) = (a1[p], a2[p], a3[p], a4[p]);
    let base = unit * time * variates;
    let mut t = 0;
    while t < time {
        let mut h1q = 0.0f32;
        let mut h2q = 0.0f32;
        let mut v = 0;
        while v < variates {
            let at = (b * time + t) * variates + v;
            let se = at * channels + e;
            let sn = at * states + n;
            let here = base + t * variates + v;
            let (s1, s4) = (dt1[se], dt2[se]);
            let bar1 = (s1 * w1).exp();
            let bar4 = (s4 * w4).exp();
            let phi1 = s1 * e1(s1 * w1);
            let phi2 = s4 * e1(s4 * w4);
            let mut h1p = 0.0f32;
            let mut h2p = 0.0f32;
            if t > 0 {
                h1p = h1s[here - variates];
                h2p = h2s[here - variates];
            }
            let x = u[se];
            let h1 = bar1 * h1p + phi1 * (w2 * h2p + b1[sn] * x);
            let h2 = bar4 * h2q + phi2 * (w3 * h1q + b2[sn] * x);
            h1s[here] = h1;
            h2s[here] = h2;
            parts[se * states + n] = c1[sn] * h1 + c2[sn] * h2;
            h1q = h1;
            h2q = h2;
            v += 1;
        }
        t += 1;
    }
}

/// The adjoint pass of each unit from the last cell, on the states of
/// [`scan2d_forward`]: `parts` (7, B, T, V, E, N) holds the unit's shares
/// of ∂Δ₁, ∂Δ₂, ∂u (summed over N) and ∂B₁, ∂B₂, ∂C₁, ∂C₂ (summed over E),
/// `parameters` (4, B, E, N) its sums for ∂A₁ … ∂A₄ (summed over B);
/// `row` (B, E, N, V) is scratch for g¹ of the next time step.
#[cube(launch_unchecked)]
pub fn scan2d_backward(
    a1: &Tensor<f32>,
    a2: &Tensor<f32>,
    a3: &Tensor<f32>,
    a4: &Tensor<f32>,
    dt1: &Tensor<f32>,
    dt2: &Tensor<f32>,
    u: &Tensor<f32>,
    b1: &Tensor<f32>,
    b2: &Tensor<f32>,
    c1: &Tensor<f32>,
    c2: &Tensor<f32>,
    h1s: &Tensor<f32>,
    h2s: &Tensor<f32>,
    grad: &Tensor<f32>,
    row: &mut Tensor<f32>,
    parts: &mut Tensor<f32>,
    parameters: &mut Tensor<f32>,
    units: u32,
    time: u32,
    variates: u32,
    channels: u32,
    states: u32,
) {
    let unit = ABSOLUTE_POS;
    if unit >= units as usize {
        terminate!();
    }
    let (b, e, n, p) = unit_indices(unit, channels, states);
    let (time, variates) = (time as usize, variates as usize);
    let (channels, states) = (channels as usize, states as usize);
    let (w1, w2, w3, w4) = (a1[p], a2[p], a3[p], a4[p]);
    let base = unit * time * variates;
    let stride = parts.len() / 7;
    let mut ga1 = 0.0f32;
    let mut ga2 = 0.0f32;
    let mut ga3 = 0.0f32;
    let mut ga4 = 0.0f32;
    let mut k = 0;
    while k < time {
        let t = time - 1 - k;
        let mut g2_next = 0.0f32;
        let mut bar4_next = 0.0f32;
        let mut phi2_next = 0.0f32;
        let mut j = 0;
        while j < variates {
            let v = variates - 1 - j;
            let at = (b * time + t) * variates + v;
            let se = at * channels + e;
            let sn = at * states + n;
            let here = base + t * variates + v;
            let dy = grad[se];
            // g¹ of (v, t + 1) and that cell's Ā₁, φ₁.
            let mut g1_next = 0.0f32;
            let mut bar1_next = 0.0f32;
            let mut phi1_next = 0.0f32;
            if t + 1 < time {
                g1_next = row[unit * variates + v];
                let s_next = dt1[se + variates * channels];
                bar1_next = (s_next * w1).exp();
                phi1_next = s_next * e1(s_next * w1);
            }
            let g1 = c1[sn] * dy + bar1_next * g1_next + phi2_next * w3 * g2_next;
            let g2 = c2[sn] * dy + phi1_next * w2 * g1_next + bar4_next * g2_next;
            let (s1, s4) = (dt1[se], dt2[se]);
            let bar1 = (s1 * w1).exp();
            let bar4 = (s4 * w4).exp();
            let phi1 = s1 * e1(s1 * w1);
            let phi2 = s4 * e1(s4 * w4);
            let mut h1p = 0.0f32;
            let mut h2p = 0.0f32;
            if t > 0 {
                h1p = h1s[here - variates];
                h2p = h2s[here - variates];
            }
            let mut h1q = 0.0f32;
            let mut h2q = 0.0f32;
            if v > 0 {
                h1q = h1s[here - 1];
                h2q = h2s[here - 1];
            }
            let (x, p1, p2) = (u[se], b1[sn], b2[sn]);
            let d_bar1 = g1 * h1p;
            let d_phi1 = g1 * (w2 * h2p + p1 * x);
            let d_bar4 = g2 * h2q;
            let d_phi2 = g2 * (w3 * h1q + p2 * x);
            ga1 += d_bar1 * s1 * bar1 + d_phi1 * s1 * s1 * e2(s1 * w1);
            ga2 += g1 * phi1 * h2p;
            ga3 += g2 * phi2 * h1q;
            ga4 += d_bar4 * s4 * bar4 + d_phi2 * s4 * s4 * e2(s4 * w4);
            let part = se * states + n;
            parts[part] = (d_bar1 * w1 + d_phi1) * bar1;
            parts[stride + part] = (d_bar4 * w4 + d_phi2) * bar4;
            parts[2 * stride + part] = g1 * phi1 * p1 + g2 * phi2 * p2;
            parts[3 * stride + part] = g1 * phi1 * x;
            parts[4 * stride + part] = g2 * phi2 * x;
            parts[5 * stride + part] = dy * h1s[here];
            parts[6 * stride + part] = dy * h2s[here];
            row[unit * variates + v] = g1;
            g2_next = g2;
            bar4_next = bar4;
            phi2_next = phi2;
            j += 1;
        }
        k += 1;
    }
    let count = parameters.len() / 4;
    parameters[unit] = ga1;
    parameters[count + unit] = ga2;
    parameters[2 * count + unit] = ga3;
    parameters[3 * count + unit] = ga4;
}
