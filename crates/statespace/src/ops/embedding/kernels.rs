//! The CubeCL kernel of the embedding gradient, f32.

use burn_cubecl::cubecl;
use burn_cubecl::cubecl::prelude::*;

/// out[indices[n], j] += grad[n, j], one unit per element of `grad`
/// (N, `dim`), packed; `out` (`vocab`, `dim`) is packed and zeroed by the
/// caller. Rows whose index is not below `vocab` (negative ones included)
/// are skipped, so a bad index cannot write outside `out`.
#[cube(launch_unchecked)]
pub fn embedding_grad<I: Int>(
    grad: &Tensor<f32>,
    indices: &Tensor<I>,
    out: &mut Tensor<Atomic<f32>>,
    dim: u32,
    vocab: u32,
    #[define(I)] _dtype: StorageType,
) {
    let i = ABSOLUTE_POS;
    if i >= grad.len() {
        terminate!();
    }
    let dim = dim as usize;
    let index = indices[i / dim];
    if index >= I::new(0) && index < I::cast_from(vocab) {
        out[usize::cast_from(index) * dim + i % dim].fetch_add(grad[i]);
    }
}
