//! Parallel sums whose result does not depend on the thread count or on
//! rayon's scheduling: the items are cut into at most [`PARTS`] runs of
//! consecutive items (a cut fixed by the item count alone), each run folds
//! into its own accumulator in item order, and the runs' accumulators are
//! added in run order. rayon's `fold` + `reduce` split adaptively, so their
//! floating-point sums changed from run to run (seen at 1e-8 in the
//! selective scan's ∂B), which broke bit-identical reruns and resumes.

use rayon::iter::{IndexedParallelIterator, ParallelIterator};

/// The most parts, so the most accumulators alive at once and the most
/// threads on one sum: more than the cores of the machines these kernels
/// train on (2 to 16), few enough that each part's copy of a shared
/// gradient stays cheap; past 32 cores the extra ones sit out these sums.
pub(crate) const PARTS: usize = 32;

/// Items per part for `items` items (at least one).
fn part_len(items: usize) -> usize {
    items.div_ceil(PARTS).max(1)
}

/// `items` folded into accumulators made by `identity`, one per part of
/// consecutive items ([`part_len`]) in parallel, then the parts' results
/// combined by `add` in part order, starting from `identity()`: the same
/// bits on every run, whatever the threads.
pub(crate) fn fold_in_parts<I, T>(
    items: I,
    identity: impl Fn() -> T + Send + Sync,
    fold: impl Fn(T, I::Item) -> T + Send + Sync,
    add: impl Fn(T, T) -> T,
) -> T
where
    I: IndexedParallelIterator,
    T: Send,
{
    let len = part_len(items.len());
    items
        .fold_chunks(len, &identity, fold)
        .collect::<Vec<_>>()
        .into_iter()
        .fold(identity(), add)
}

#[cfg(test)]
mod tests {
    use super::*;

    use rayon::prelude::*;

    #[test]
    fn parts_cover_the_items_in_at_most_parts_runs() {
        for items in [0, 1, 31, 32, 33, 1000, 12288] {
            let len = part_len(items);
            assert!(len >= 1);
            assert!(items.div_ceil(len) <= PARTS, "{items}");
        }
    }

    #[test]
    fn a_sum_in_parts_equals_the_sum_in_order_of_its_parts() {
        let items: Vec<f32> = (0..1000).map(|i| 1.0 / (1.0 + i as f32)).collect();
        let sum =
            |v: &[f32]| fold_in_parts(v.par_iter(), || 0.0f32, |acc, &x| acc + x, |a, b| a + b);
        let expected = items
            .chunks(part_len(items.len()))
            .map(|c| c.iter().fold(0.0f32, |acc, &x| acc + x))
            .fold(0.0f32, |a, b| a + b);
        assert_eq!(sum(&items).to_bits(), expected.to_bits());
        assert_eq!(sum(&[]), 0.0);
    }
}
