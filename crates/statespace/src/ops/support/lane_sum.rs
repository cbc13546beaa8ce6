//! Sums the CPU kernels' loops vectorise: [`LANES`] interleaved partial sums
//! added at the end (one sequential chain would wait on each add's latency,
//! and the compiler may not reorder float additions itself).

use num_traits::Float;

/// Partial sums per reduction.
pub(crate) const LANES: usize = 8;

/// Σ_{i < n} term(i) for each of the `K` values `term` returns, each in
/// [`LANES`] interleaved partial sums added at the end.
#[inline(always)]
pub(crate) fn lane_sums<T: Float, const K: usize>(
    n: usize,
    term: impl Fn(usize) -> [T; K],
) -> [T; K] {
    let mut lanes = [[T::zero(); LANES]; K];
    let mut add = |lane: usize, t: [T; K]| {
        for (sums, v) in lanes.iter_mut().zip(t) {
            sums[lane] = sums[lane] + v;
        }
    };
    let body = n - n % LANES;
    for start in (0..body).step_by(LANES) {
        for lane in 0..LANES {
            add(lane, term(start + lane));
        }
    }
    for (lane, i) in (body..n).enumerate() {
        add(lane, term(i));
    }
    lanes.map(|sums| sums.iter().fold(T::zero(), |s, &v| s + v))
}

/// Σ_{i < n} term(i) in [`LANES`] interleaved partial sums.
#[inline(always)]
pub(crate) fn lane_sum<T: Float>(n: usize, term: impl Fn(usize) -> T) -> T {
    let [sum] = lane_sums(n, |i| [term(i)]);
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_match_the_sequential_ones_for_every_tail() {
        for n in [0, 1, 7, 8, 9, 200] {
            let [a, b] = lane_sums(n, |i| [i as f64, (i * i) as f64]);
            let want = |f: fn(usize) -> f64| (0..n).map(f).sum::<f64>();
            assert_eq!(a, want(|i| i as f64), "n = {n}");
            assert_eq!(b, want(|i| (i * i) as f64), "n = {n}");
            assert_eq!(lane_sum(n, |i| i as f64), a);
        }
    }
}
