//! Dense SSM kernels by powering: K_l = C Āˡ B̄.

use faer::Col;

use crate::discretize::DenseDiscrete;

/// K_l = C Āˡ B̄ for l in 0..`len`, for a dense discrete system and output
/// vector `c` (N). Cost O(len·N²); the reference every fast path is tested
/// against.
pub fn dense_kernel(system: &DenseDiscrete, c: &[f64], len: usize) -> Vec<f64> {
    let n = system.a.nrows();
    assert_eq!(c.len(), n, "C must have the state size N = {n}");
    let mut x: Col<f64> = system.b.clone();
    let mut k = Vec::with_capacity(len);
    for _ in 0..len {
        k.push((0..n).map(|i| c[i] * x[i]).sum());
        x = &system.a * &x;
    }
    k
}
