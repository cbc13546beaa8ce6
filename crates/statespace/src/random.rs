//! Random tensors drawn from the caller's generator, so that a seeded model
//! (and a test that builds one) is reproducible; burn's own `Tensor::random`
//! draws from a backend-global generator instead.

use burn::tensor::backend::Backend;
use burn::tensor::{Tensor, TensorData};
use rand::Rng;
use rand_distr::{Distribution, Normal, Uniform};

/// A `shape` tensor of U[lo, hi) values (lo < hi, or all lo when equal).
pub fn uniform<B: Backend, const D: usize>(
    rng: &mut impl Rng,
    shape: [usize; D],
    lo: f64,
    hi: f64,
    device: &B::Device,
) -> Tensor<B, D> {
    let count = shape.iter().product();
    let values: Vec<f32> = match Uniform::new(lo, hi) {
        Ok(dist) => (0..count).map(|_| dist.sample(rng) as f32).collect(),
        Err(_) => vec![lo as f32; count],
    };
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// A `shape` tensor of N(mean, std²) values (std ≥ 0).
pub fn normal<B: Backend, const D: usize>(
    rng: &mut impl Rng,
    shape: [usize; D],
    mean: f64,
    std: f64,
    device: &B::Device,
) -> Tensor<B, D> {
    let count = shape.iter().product();
    let dist = Normal::new(mean, std).unwrap_or_else(|_| Normal::new(mean, 0.0).expect("std 0"));
    let values: Vec<f32> = (0..count).map(|_| dist.sample(rng) as f32).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// JAX's `lecun_normal`-style draw: a standard normal truncated to ±2,
/// rescaled to standard deviation `std` (÷ 0.8796…, the truncated
/// normal's own deviation), `count` values in row-major order.
pub fn truncated_normal_values(rng: &mut impl Rng, count: usize, std: f64) -> Vec<f64> {
    /// The standard deviation of N(0, 1) truncated to [−2, 2].
    const TRUNCATED_STD: f64 = 0.879_625_661_034_239_8;
    let unit = Normal::new(0.0, 1.0).expect("unit normal");
    (0..count)
        .map(|_| {
            loop {
                let z: f64 = unit.sample(rng);
                if z.abs() < 2.0 {
                    break z * std / TRUNCATED_STD;
                }
            }
        })
        .collect()
}

/// `count` N(0, std²) values.
pub fn normal_values(rng: &mut impl Rng, count: usize, std: f64) -> Vec<f64> {
    let dist = Normal::new(0.0, std).unwrap_or_else(|_| Normal::new(0.0, 0.0).expect("std 0"));
    (0..count).map(|_| dist.sample(rng)).collect()
}
