//! The launch plan of the chunked scans along L (the running sums of
//! `prefix_sum`, the diagonal recurrence of `diagonal_scan`; their CubeCL
//! kernels are built with the `cuda` feature): L is cut into chunks of
//! [`ChunkPlan::chunk`] steps; one unit per (b, chunk, f) reduces its chunk
//! to a total, one unit per (b, f) turns the chunk totals into the carries
//! into each chunk, and one unit per (b, chunk, f) writes its chunk's scan
//! from its carry. Every unit reads L/chunk or chunk values, consecutive
//! units consecutive features (coalesced). Host arithmetic only, tested on
//! every build.

use crate::ops::support::index_limit::{INDEX_LIMIT, elements};

/// The shortest and the longest chunk.
const CHUNK_RANGE: (usize, usize) = (32, 1024);

/// A scan along L of x (B, L, F): F independent lanes per sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChunkPlan {
    pub batch: usize,
    pub len: usize,
    pub features: usize,
    /// Steps per chunk: the power of two nearest above √L, within
    /// [`CHUNK_RANGE`], so that the carry pass and each chunk scan walk
    /// about as many steps.
    pub chunk: usize,
    /// ⌈L / chunk⌉.
    pub chunks: usize,
}

impl ChunkPlan {
    /// The plan for x of `[batch, len, features]` when it is f32
    /// (`is_f32`), no axis is empty and every buffer stays below 2³²
    /// elements; `None` otherwise (the composite runs).
    pub fn new([batch, len, features]: [usize; 3], is_f32: bool) -> Option<Self> {
        if !is_f32 || [batch, len, features].contains(&0) {
            return None;
        }
        if elements(&[batch, len, features]) >= INDEX_LIMIT {
            return None;
        }
        let root = (len as f64).sqrt().ceil() as usize;
        let chunk = root.next_power_of_two().clamp(CHUNK_RANGE.0, CHUNK_RANGE.1);
        Some(Self {
            batch,
            len,
            features,
            chunk,
            chunks: len.div_ceil(chunk),
        })
    }

    /// Units of the chunk passes: one per (b, chunk, f).
    pub fn chunk_units(&self) -> usize {
        self.batch * self.chunks * self.features
    }

    /// Units of the carry pass: one per (b, f).
    pub fn carry_units(&self) -> usize {
        self.batch * self.features
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_near_the_square_root_of_the_length() {
        let plan = ChunkPlan::new([1, 65_536, 768], true).unwrap();
        assert_eq!((plan.chunk, plan.chunks), (256, 256));
        let plan = ChunkPlan::new([8, 2048, 768], true).unwrap();
        assert_eq!((plan.chunk, plan.chunks), (64, 32));
        assert_eq!(plan.chunk_units(), 8 * 32 * 768);
        assert_eq!(plan.carry_units(), 8 * 768);
        // Short and very long sequences stay within the chunk range.
        assert_eq!(ChunkPlan::new([2, 5, 3], true).unwrap().chunks, 1);
        assert_eq!(ChunkPlan::new([1, 1 << 22, 1], true).unwrap().chunk, 1024);
    }

    #[test]
    fn refuses_other_dtypes_empty_axes_and_huge_buffers() {
        assert!(ChunkPlan::new([1, 8, 8], false).is_none());
        assert!(ChunkPlan::new([1, 0, 8], true).is_none());
        assert!(ChunkPlan::new([1 << 12, 1 << 12, 1 << 8], true).is_none());
    }
}
