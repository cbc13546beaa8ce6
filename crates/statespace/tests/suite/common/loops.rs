//! Scalar helpers for the loop-by-loop references of models without
//! official code (MambaMixer, Chimera): everything in f64 on plain vectors.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use statespace::io::HostTensor;

/// A tensor's values, row-major, as f64.
pub fn values<B: Backend, const D: usize>(t: &Tensor<B, D>) -> Vec<f64> {
    HostTensor::from_tensor(t).data
}

/// A (rows, cols) tensor as rows.
pub fn rows<B: Backend>(t: &Tensor<B, 2>) -> Vec<Vec<f64>> {
    let cols = t.dims()[1];
    values(t).chunks(cols.max(1)).map(<[f64]>::to_vec).collect()
}

/// W x + b for W as rows (d_out × d_in).
pub fn linear(w: &[Vec<f64>], b: Option<&[f64]>, x: &[f64]) -> Vec<f64> {
    w.iter()
        .enumerate()
        .map(|(o, row)| {
            row.iter().zip(x).map(|(a, b)| a * b).sum::<f64>() + b.map_or(0.0, |b| b[o])
        })
        .collect()
}

/// LayerNorm with scale `w`, shift `b` and ε.
pub fn layer_norm(x: &[f64], w: &[f64], b: &[f64], eps: f64) -> Vec<f64> {
    let n = x.len() as f64;
    let mean = x.iter().sum::<f64>() / n;
    let var = x.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n;
    let inv = 1.0 / (var + eps).sqrt();
    x.iter()
        .enumerate()
        .map(|(i, v)| (v - mean) * inv * w[i] + b[i])
        .collect()
}

/// ln(1 + eˣ).
pub fn softplus(x: f64) -> f64 {
    if x > 20.0 { x } else { x.exp().ln_1p() }
}

/// x · σ(x).
pub fn silu(x: f64) -> f64 {
    x / (1.0 + (-x).exp())
}
