//! SpaceTime's row norm of its SSM vectors (`CompanionSSM.norm`).

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// Below this mean row norm the vectors are left as they are.
const FLOOR: f64 = 1e-4;

/// x (H, N) divided row by row by its `ord`-norm over N (ord 0: the count of
/// non-zero entries, which carries no gradient; 1; 2), unless the mean of
/// the row norms is ≤ 1e-4, when x is returned unchanged — one decision for
/// the whole matrix, as the official code makes it (reading the mean to the
/// host).
pub fn row_norm<B: Backend>(x: Tensor<B, 2>, ord: u32) -> Tensor<B, 2> {
    let norms = match ord {
        0 => x.clone().not_equal_elem(0.0).float().sum_dim(1).detach(),
        1 => x.clone().abs().sum_dim(1),
        _ => x.clone().square().sum_dim(1).sqrt(),
    };
    let mean = norms.clone().abs().mean().into_scalar();
    let mean: f64 = burn::tensor::ElementConversion::elem(mean);
    if mean > FLOOR { x / norms } else { x }
}
