//! Parallel sums whose result does not depend on the thread count or on
//! rayon's scheduling: the items are cut into at most [`PARTS`] runs of
//! consecutive items (a cut fixed by the item count alone), each run folds
//! into its own accumulator in item order, and the runs' accumulators are
//! added in run order. rayon's `fold` + `reduce` split adaptively, so their
//! floating-point sums changed from run to run (seen at 1e-8 in the
//! selective scan's ∂B), which broke bit-identical reruns and resumes.

/// The most parts, so the most accumulators alive at once and the most
/// threads on one sum: more than the cores of the machines these kernels
/// train on (2 to 16), few enough that each part's copy of a shared
/// gradient stays cheap; past 32 cores the extra ones sit out these sums.
pub(crate) const PARTS: usize = 32;

/// Items per part for `items` items (at least one).
pub(crate) fn part_len(items: usize) -> usize {
    items.div_ceil(PARTS).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cover_the_items_in_at_most_parts_runs() {
        for items in [0, 1, 31, 32, 33, 1000, 12288] {
            let len = part_len(items);
            assert!(len >= 1);
            assert!(items.div_ceil(len) <= PARTS, "{items}");
        }
    }
}
