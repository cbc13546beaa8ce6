//! The launch plan of the GPU convolution (`cube.rs`, built with the `cuda`
//! feature): its sizes, which convolutions cuFFT and the kernels around it
//! take, and the grids of the transposing kernels. Host arithmetic only,
//! kept outside the feature so that it is compiled and tested on every
//! build.

use crate::ops::support::index_limit::{INDEX_LIMIT, elements};

/// Side of the square tiles the transposing kernels stage (a cube is
/// TILE × TILE_ROWS units, each moving TILE / TILE_ROWS elements).
pub const TILE: usize = 32;

/// Unit rows per transposing cube.
pub const TILE_ROWS: usize = 8;

/// CUDA's limit on the second and third grid dimensions (the transposing
/// kernels put channels along y and the batch along z).
const GRID_YZ: usize = 65_535;

/// Cubes along (x, y, z) and units per cube along (x, y).
pub type Grid = ([u32; 3], [u32; 2]);

/// Rows of ∂y a cube of the skip gradient's first sum covers at least
/// (each of its TILE_ROWS lanes adds every TILE_ROWS-th row: 32 terms).
pub const STRIP_ROWS: usize = 256;

/// The launches of ∂d's column sums over R = B·L rows: strips of `strip`
/// rows into (`strips`, C·H) partial sums, then, where `strips` > 1, those
/// partials as one strip of `strip_of_partials` rows (a multiple of
/// TILE_ROWS, as every strip is).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColumnSums {
    pub rows: usize,
    pub strip: usize,
    pub strips: usize,
    pub strip_of_partials: usize,
}

/// The sizes of one convolution: u (B, L, H), k (C, H, Lk), FFT length n.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Spectral {
    pub batch: usize,
    pub len: usize,
    pub channels: usize,
    pub kernels: usize,
    pub k_len: usize,
    pub n: usize,
}

impl Spectral {
    /// The sizes of u `[B, L, H]` convolved with k `[C, H, Lk]` modulo n (a
    /// power of two ≥ L and ≥ Lk, the entry points' choice), or `None`
    /// where the GPU passes do not run it: an empty axis, a one-point
    /// transform (L = 1, the composite's special case), a grid past CUDA's
    /// limits, or a buffer of 2³² elements or more (the largest are the
    /// padded rows and spectra of y and ∂y, B·C·H rows of n + 2 floats).
    pub fn new(
        [batch, len, channels]: [usize; 3],
        [kernels, _, k_len]: [usize; 3],
        n: usize,
    ) -> Option<Self> {
        let empty = [batch, channels, kernels].contains(&0);
        if empty || len == 0 || k_len == 0 {
            return None;
        }
        let rows = elements(&[kernels, channels]);
        let fits_grid = batch <= GRID_YZ && rows.div_ceil(TILE as u128) <= GRID_YZ as u128;
        let fits_indices = elements(&[batch, kernels, channels, n + 2]) < INDEX_LIMIT;
        (n > 1 && fits_grid && fits_indices).then_some(Self {
            batch,
            len,
            channels,
            kernels,
            k_len,
            n,
        })
    }

    /// Frequency bins per row, F = n/2 + 1.
    pub fn bins(&self) -> usize {
        self.n / 2 + 1
    }

    /// ∂d's column sums: strips of at least [`STRIP_ROWS`] rows, at most
    /// CUDA's 65,535 of them (the grid's y).
    pub fn skip_gradient_sums(&self) -> ColumnSums {
        let rows = self.batch * self.len;
        let strip = STRIP_ROWS.max(rows.div_ceil(GRID_YZ).next_multiple_of(TILE_ROWS));
        let strips = rows.div_ceil(strip);
        ColumnSums {
            rows,
            strip,
            strips,
            strip_of_partials: strips.next_multiple_of(TILE_ROWS),
        }
    }

    /// The grid of one column-sum launch over `strips` strips of the C·H
    /// columns: cubes (⌈C·H / TILE⌉, strips, 1), units (TILE, TILE_ROWS).
    pub fn column_sum_grid(&self, strips: usize) -> Grid {
        (
            [
                (self.kernels * self.channels).div_ceil(TILE) as u32,
                strips as u32,
                1,
            ],
            [TILE as u32, TILE_ROWS as u32],
        )
    }

    /// The grid of a transposing kernel over (`along` × `across`) tiles of
    /// each batch entry: cubes (⌈along / TILE⌉, ⌈across / TILE⌉, B), units
    /// (TILE, TILE_ROWS).
    pub fn tile_grid(&self, along: usize, across: usize) -> Grid {
        (
            [
                along.div_ceil(TILE) as u32,
                across.div_ceil(TILE) as u32,
                self.batch as u32,
            ],
            [TILE as u32, TILE_ROWS as u32],
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::fft_conv::fft_len;

    /// The plan of a causal convolution (the FFT length `causal_conv` picks).
    fn causal(u: [usize; 3], k: [usize; 3]) -> Option<Spectral> {
        Spectral::new(u, k, fft_len(u[1], k[2]))
    }

    /// An S4 layer's convolution (L = Lk = 1024, H = 256) and the shortest
    /// one the passes take (L = 2): the FFT is long enough that nothing
    /// wraps, and the tile grids cover every row and channel.
    #[test]
    fn sizes_and_grids_of_typical_and_short_convolutions() {
        for (u, k) in [([16, 1024, 256], [1, 256, 1024]), ([1, 2, 1], [2, 1, 1])] {
            let s = causal(u, k).unwrap();
            let [batch, len, h] = u;
            let [c, _, k_len] = k;
            assert!(s.n >= len + k_len - 1 && s.n.is_power_of_two());
            assert_eq!(s.bins(), s.n / 2 + 1);
            for (along, across) in [(s.n, h), (len, c * h)] {
                let ([x, y, z], units) = s.tile_grid(along, across);
                assert_eq!(units, [TILE as u32, TILE_ROWS as u32]);
                assert!(x as usize * TILE >= along && (x as usize - 1) * TILE < along);
                assert!(y as usize * TILE >= across && (y as usize - 1) * TILE < across);
                assert_eq!(z as usize, batch);
            }
        }
    }

    /// The strips of ∂d's sums cover every row once, in strips of whole
    /// lane rounds and at most 65,535 of them, for short, ListOps-sized and
    /// very long inputs.
    #[test]
    fn skip_gradient_strips_cover_the_rows_within_the_grid() {
        for (batch, len) in [(1, 2), (2, 5000), (32, 2000), (1, 65_536), (64, 1 << 20)] {
            let s = causal([batch, len, 3], [2, 3, len]).unwrap();
            let sums = s.skip_gradient_sums();
            assert_eq!(sums.rows, batch * len);
            assert!(sums.strip >= STRIP_ROWS && sums.strip.is_multiple_of(TILE_ROWS));
            assert!(sums.strips * sums.strip >= sums.rows);
            assert!((sums.strips - 1) * sums.strip < sums.rows);
            assert!(sums.strips <= GRID_YZ);
            assert!(sums.strip_of_partials >= sums.strips);
            assert!(sums.strip_of_partials.is_multiple_of(TILE_ROWS));
            let ([x, y, z], units) = s.column_sum_grid(sums.strips);
            assert_eq!(([x, y, z], units), ([1, sums.strips as u32, 1], [32, 8]));
        }
    }

    /// One step is the composite's (a one-point transform); empty axes,
    /// grids past CUDA's limits and spectra of 2³² floats are refused.
    #[test]
    fn refuses_single_steps_empty_axes_and_sizes_past_the_limits() {
        assert!(causal([4, 1, 8], [2, 8, 1]).is_none());
        assert!(causal([0, 16, 8], [2, 8, 16]).is_none());
        assert!(causal([4, 16, 8], [0, 8, 16]).is_none());
        assert!(causal([GRID_YZ + 1, 2, 1], [1, 1, 1]).is_none());
        assert!(causal([GRID_YZ, 2, 1], [1, 1, 1]).is_some());
        let wide = TILE * GRID_YZ;
        assert!(causal([1, 2, wide], [1, wide, 1]).is_some());
        assert!(causal([1, 2, wide + 1], [1, wide + 1, 1]).is_none());
        // B·C·H rows of n + 2 = 32770 floats: 2¹⁶ rows (2.1·10⁹ floats)
        // fit, 2¹⁷ rows (4.3·10⁹ floats) do not.
        assert!(causal([64, 16384, 512], [2, 512, 16384]).is_some());
        assert!(causal([128, 16384, 512], [2, 512, 16384]).is_none());
    }
}
