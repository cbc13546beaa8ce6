//! Which SSD problems the fused GPU kernels (`kernels/`, built with the
//! `cuda` feature) take. Kept outside the feature so that the decision is
//! tested on every build.

use super::SsdProblem;
use crate::ops::support::index_limit::{INDEX_LIMIT, elements};
use crate::ops::support::kernel_types::kernel_float;

/// Steps per chunk of the fused kernels.
pub const STEPS: usize = 64;

/// CUDA's limit on the second and third grid dimensions (the kernels put
/// heads or groups there, and the batch).
const GRID_YZ: usize = 65_535;

/// Whether the fused kernels take `problem`: one storage type among f32,
/// bf16 and f16; no packed sequences (the kernels do not zero the state at
/// sequence starts); no empty axis; batch, heads and groups within the
/// grid; and every buffer they index, the per-chunk states
/// (batch · chunks · H · P · N floats) above all, below 2³² elements (the
/// kernels index in 32 bits).
pub(crate) fn kernels_take(problem: &SsdProblem) -> bool {
    let [batch, len, heads, p, groups, n] = problem.dims;
    let Some(&dtype) = problem.dtypes.first() else {
        return false;
    };
    let one_dtype = problem.dtypes.iter().all(|&d| d == dtype);
    let kernel_dtype = kernel_float(dtype);
    if problem.packed || !one_dtype || !kernel_dtype || problem.dims.contains(&0) {
        return false;
    }
    if batch > GRID_YZ || heads > GRID_YZ || groups > GRID_YZ {
        return false;
    }
    let chunks = len.div_ceil(STEPS);
    let buffers = [
        [batch, chunks, heads, p * n],
        [batch, len, heads, p],
        [batch, len, groups, n],
        [batch, chunks, groups, STEPS * STEPS],
        [batch, heads, chunks, STEPS],
    ];
    buffers.iter().all(|dims| elements(dims) < INDEX_LIMIT)
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::tensor::DType;

    fn problem(dims: [usize; 6], dtypes: &[DType], packed: bool) -> SsdProblem {
        SsdProblem {
            dims,
            dtypes: dtypes.to_vec(),
            packed,
        }
    }

    #[test]
    fn takes_the_benchmark_shapes() {
        for dims in [[8, 2048, 24, 64, 1, 128], [1, 65536, 24, 64, 1, 128]] {
            for dtype in [DType::F32, DType::BF16, DType::F16] {
                assert!(kernels_take(&problem(dims, &[dtype; 4], false)));
            }
        }
        // With an initial state of the same type, L = 1.
        assert!(kernels_take(&problem(
            [1, 1, 2, 3, 1, 5],
            &[DType::F32; 5],
            false
        )));
    }

    #[test]
    fn leaves_the_rest_to_the_composite() {
        let dims = [2, 37, 4, 8, 2, 16];
        assert!(!kernels_take(&problem(dims, &[DType::F32; 4], true)));
        assert!(!kernels_take(&problem(dims, &[DType::F64; 4], false)));
        let mixed = [DType::BF16, DType::F32, DType::BF16, DType::BF16];
        assert!(!kernels_take(&problem(dims, &mixed, false)));
        assert!(!kernels_take(&problem(
            [0, 37, 4, 8, 2, 16],
            &[DType::F32; 4],
            false
        )));
        assert!(!kernels_take(&problem(
            [70_000, 37, 4, 8, 2, 16],
            &[DType::F32; 4],
            false
        )));
        // batch 8, L 65536, 80 heads × 64, N 128: 5.4·10⁹ state floats.
        assert!(!kernels_take(&problem(
            [8, 65536, 80, 64, 1, 128],
            &[DType::BF16; 4],
            false
        )));
    }
}
