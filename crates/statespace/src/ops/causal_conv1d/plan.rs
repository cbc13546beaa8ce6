//! The launch plan of the convolution's CubeCL kernels (`kernels.rs`, built
//! with the `cuda` feature): which convolutions they take and the grids
//! they run on. Host arithmetic only, kept outside the feature so that it is
//! compiled and tested on every build; the launcher (`cube.rs`) runs the
//! tensor-op composites where the plan refuses a convolution.

use crate::ops::support::index_limit::{INDEX_LIMIT, elements};

/// Channels per cube (one plane) of every kernel.
pub const CHANNELS: usize = 32;

/// Row groups per cube of every kernel (a run kernel's group walks [`RUN`]
/// steps; the weight-gradient kernel's strides over rows).
pub const ROW_GROUPS: usize = 8;

/// Consecutive steps per unit of the run kernels (the pre-activations and
/// the input gradients): each unit walks one channel through `RUN` steps
/// with the last K − 1 inputs in registers, so every input is read about
/// once and no unit divides indices.
pub const RUN: usize = 16;

/// Cubes of the weight-gradient kernel, about one device fill.
const TARGET_CUBES: usize = 1024;

/// CUDA's limit on the second and third grid dimensions (the run kernels'
/// steps and batch).
const GRID_YZ: usize = 65_535;

/// A convolution the kernels take: x (B, L, D), history (B, K − 1, D),
/// weight (D, K).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvPlan {
    pub batch: usize,
    pub len: usize,
    pub dim: usize,
    pub taps: usize,
}

/// Cubes along (x, y, z) and units per cube along (x, y).
pub type Grid = ([u32; 3], [u32; 2]);

impl ConvPlan {
    /// The plan for x of `[batch, len, dim]` and `taps` taps when every
    /// tensor has one storage type the kernels take (`one_kernel_type`:
    /// f32, bf16 or f16), no axis is empty, the grid fits CUDA's
    /// limits and every buffer, and the elements each input's strides
    /// reach (`reaches`), stay below 2³² elements; `None` otherwise.
    pub fn new(
        [batch, len, dim]: [usize; 3],
        taps: usize,
        one_kernel_type: bool,
        reaches: &[u128],
    ) -> Option<Self> {
        if !one_kernel_type || [batch, len, dim, taps].contains(&0) {
            return None;
        }
        let fits_grid = batch <= GRID_YZ && (len + taps).div_ceil(ROW_GROUPS * RUN) <= GRID_YZ;
        // x̃ (B, K − 1 + L, D): the history and x, and their gradients.
        let fits_indices = elements(&[batch, taps - 1 + len, dim]) < INDEX_LIMIT
            && elements(&[dim, taps]) < INDEX_LIMIT
            && reaches.iter().all(|&r| r < INDEX_LIMIT);
        (fits_grid && fits_indices).then_some(Self {
            batch,
            len,
            dim,
            taps,
        })
    }

    /// The grid of a run kernel over `rows` steps of every channel of every
    /// batch: cubes (⌈D / CHANNELS⌉, ⌈rows / (ROW_GROUPS · RUN)⌉, B), units
    /// (CHANNELS, ROW_GROUPS).
    pub fn run_grid(&self, rows: usize) -> Grid {
        (
            [
                self.dim.div_ceil(CHANNELS) as u32,
                rows.div_ceil(ROW_GROUPS * RUN) as u32,
                self.batch as u32,
            ],
            [CHANNELS as u32, ROW_GROUPS as u32],
        )
    }

    /// The grid of the weight-gradient kernel and the rows (b, t) of each
    /// cube: cubes (⌈D / CHANNELS⌉, blocks), about [`TARGET_CUBES`] in all,
    /// with no more blocks than ⌈B·L / ROW_GROUPS⌉.
    pub fn weight_grad_grid(&self) -> (Grid, usize) {
        let column_tiles = self.dim.div_ceil(CHANNELS);
        let rows = self.batch * self.len;
        let blocks = TARGET_CUBES
            .div_ceil(column_tiles)
            .min(rows.div_ceil(ROW_GROUPS));
        let rows_per_cube = rows.div_ceil(blocks);
        let grid = (
            [column_tiles as u32, rows.div_ceil(rows_per_cube) as u32, 1],
            [CHANNELS as u32, ROW_GROUPS as u32],
        );
        (grid, rows_per_cube)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed_reach(dims: [usize; 3]) -> u128 {
        elements(&dims)
    }

    /// Mamba-130m's convolution (D = 1536, K = 4, L = 2048) and one step:
    /// the run grids cover every channel and step, the weight-gradient grid
    /// every row, within about one device fill.
    #[test]
    fn grids_cover_typical_and_single_step_shapes() {
        for (batch, len, dim, taps) in [(8, 2048, 1536, 4), (1, 1, 1, 2), (3, 53, 40, 4)] {
            let reach = packed_reach([batch, len, dim]);
            let p = ConvPlan::new([batch, len, dim], taps, true, &[reach]).unwrap();
            for rows in [len, len + taps - 1] {
                let ([x, y, z], units) = p.run_grid(rows);
                assert_eq!(units, [CHANNELS as u32, ROW_GROUPS as u32]);
                assert!(x as usize * CHANNELS >= dim && (x as usize - 1) * CHANNELS < dim);
                let steps = ROW_GROUPS * RUN;
                assert!(y as usize * steps >= rows && (y as usize - 1) * steps < rows);
                assert_eq!(z as usize, batch);
            }
            let (([x, y, z], _), rows_per_cube) = p.weight_grad_grid();
            let rows = batch * len;
            assert!(y as usize * rows_per_cube >= rows);
            assert!((y as usize - 1) * rows_per_cube < rows);
            assert!(x as usize * CHANNELS >= dim && z == 1);
            assert!((x * y) as usize <= TARGET_CUBES + x as usize);
        }
    }

    /// Past CUDA's grid or 32-bit indices the composites run instead:
    /// a batch of 65,536; L + K steps past 65,535 row blocks; x̃ of 2³²
    /// elements (one step fewer is taken); an x sliced from a buffer its
    /// strides reach 2³² into.
    #[test]
    fn refuses_grids_and_buffers_past_the_limits() {
        let take = |[b, l, d]: [usize; 3], k, reach| ConvPlan::new([b, l, d], k, true, &[reach]);
        assert!(take([GRID_YZ + 1, 1, 1], 2, 1).is_none());
        assert!(take([GRID_YZ, 1, 1], 2, 1).is_some());
        let most_steps = GRID_YZ * ROW_GROUPS * RUN;
        assert!(take([1, most_steps - 4, 1], 4, 1).is_some());
        assert!(take([1, most_steps - 3, 1], 4, 1).is_none());
        let len = (1 << 22) - 3;
        assert!(take([1, len, 1024], 4, packed_reach([1, len, 1024])).is_none());
        assert!(take([1, len - 1, 1024], 4, packed_reach([1, len - 1, 1024])).is_some());
        assert!(take([1, 1024, 1024], 4, INDEX_LIMIT).is_none());
    }

    #[test]
    fn refuses_other_storage_types_and_empty_axes() {
        assert!(ConvPlan::new([2, 3, 4], 4, false, &[24]).is_none());
        for (dims, taps) in [
            ([0, 3, 4], 4),
            ([2, 0, 4], 4),
            ([2, 3, 0], 4),
            ([2, 3, 4], 0),
        ] {
            assert!(ConvPlan::new(dims, taps, true, &[0]).is_none());
        }
    }
}
