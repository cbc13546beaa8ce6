//! Running sums in tensor ops: the semantics every backend is checked
//! against, and the trait's default.

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;

/// Running sums of x (B, L, F) along L, from the end when `reverse`, as
/// burn's `cumsum` (and flips). Unchecked: [`super::prefix_sum`] is the
/// checked entry.
pub fn prefix_sum_composite<B: Backend>(x: FloatTensor<B>, reverse: bool) -> FloatTensor<B> {
    if reverse {
        B::float_flip(B::float_cumsum(B::float_flip(x, &[1]), 1), &[1])
    } else {
        B::float_cumsum(x, 1)
    }
}
