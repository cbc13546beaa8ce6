//! The 32-bit indices of the CubeCL kernels: `usize` is 32 bits wide in a
//! kernel (none asks for 64-bit addressing) and sizes are passed as `u32`,
//! so every buffer a kernel addresses must hold fewer than [`INDEX_LIMIT`]
//! elements. Host arithmetic for the launch plans, on every build.

use crate::size::sum_of_products;

/// 2³²: buffers the kernels address hold fewer elements than this.
pub(crate) const INDEX_LIMIT: u128 = 1 << 32;

/// The elements of a buffer of `dims`; `u128::MAX` where their product
/// overflows `usize` (far past the limit too).
pub(crate) fn elements(dims: &[usize]) -> u128 {
    sum_of_products(&[dims]).map_or(u128::MAX, |n| n as u128)
}

/// The elements the indices of a tensor of `shape` at `strides` reach:
/// 1 + Σᵢ (shapeᵢ − 1)·stridesᵢ, 0 when an axis is empty. For a strided
/// view (a slice of a wider buffer) this exceeds its own element count.
pub(crate) fn reach(shape: &[usize], strides: &[usize]) -> u128 {
    if shape.contains(&0) {
        return 0;
    }
    shape.iter().zip(strides).fold(1u128, |acc, (&n, &s)| {
        acc.saturating_add((n as u128 - 1).saturating_mul(s as u128))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A packed tensor reaches its own element count, and so does any
    /// permutation of it; a slice of a wider buffer reaches further.
    #[test]
    fn reach_of_packed_permuted_and_sliced_tensors() {
        assert_eq!(reach(&[2, 3, 4], &[12, 4, 1]), elements(&[2, 3, 4]));
        assert_eq!(reach(&[2, 4, 3], &[12, 1, 4]), 24);
        // The first 3 of 8 columns of a (2, 4, 8) buffer: up to element
        // 1·32 + 3·8 + 2 of 64.
        assert_eq!(reach(&[2, 4, 3], &[32, 8, 1]), 59);
        assert_eq!(reach(&[2, 0, 3], &[0, 3, 1]), 0);
        assert_eq!(reach(&[1], &[7]), 1);
    }

    #[test]
    fn element_counts_saturate_instead_of_wrapping() {
        assert_eq!(elements(&[]), 1);
        assert_eq!(elements(&[1 << 16, 1 << 16]), INDEX_LIMIT);
        assert_eq!(elements(&[usize::MAX; 4]), u128::MAX);
    }
}
