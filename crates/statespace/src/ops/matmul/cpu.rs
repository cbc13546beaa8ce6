//! The CPU (Flex) backend: 2-D f32 and f64 products through the `gemm`
//! crate into an unzeroed output; other ranks and dtypes through burn's
//! matmul. burn-flex calls the same crate, but builds its output from a
//! zeroed byte vector that it then copies into an aligned allocation, two
//! passes on the calling thread that took 1.7 ms of a 47 ms S4D training
//! step at 32 × 200 (ARCHITECTURE.md, "CPU training speed"). A product with
//! a long reduction and a small output (a weight gradient) sums slices of K
//! on the threads, since gemm splits only the output.

use burn::tensor::ops::FloatTensorOps;
use burn::tensor::{DType, TensorData, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use super::MatmulOps;
use crate::ops::support::flex_values::HostReal;
use crate::ops::support::fresh::Fresh;

/// K per output dimension from which a product sums slices of K on the
/// threads instead of splitting its output.
const LONG_REDUCTION: usize = 8;

/// Multiply-adds from which a product is split over the thread pool
/// (burn-flex's threshold).
const PARALLEL_FROM: usize = 192 * 192 * 192;

impl MatmulOps for Flex {
    fn exact_matmul(lhs: FlexTensor, rhs: FlexTensor) -> FlexTensor {
        let plain = lhs.shape().num_dims() == 2 && rhs.shape().num_dims() == 2;
        match (plain, lhs.dtype(), rhs.dtype()) {
            (true, DType::F32, DType::F32) => product::<f32>(&lhs, &rhs),
            (true, DType::F64, DType::F64) => product::<f64>(&lhs, &rhs),
            _ => Flex::float_matmul(lhs, rhs),
        }
    }
}

/// lhs (M, K) × rhs (K, N), each read through its own strides.
fn product<T: HostReal + 'static>(lhs: &FlexTensor, rhs: &FlexTensor) -> FlexTensor {
    let ([m, k], [_, n]) = (lhs.shape().dims::<2>(), rhs.shape().dims::<2>());
    let (ls, rs) = (lhs.layout().strides(), rhs.layout().strides());
    let (l, r) = (lhs.storage::<T>(), rhs.storage::<T>());
    let (l_off, r_off) = (lhs.layout().start_offset(), rhs.layout().start_offset());
    assert!(
        fits(l.len(), l_off, [m, k], ls),
        "matmul: lhs view outside its storage"
    );
    assert!(
        fits(r.len(), r_off, [k, n], rs),
        "matmul: rhs view outside its storage"
    );
    let threads = rayon::current_num_threads();
    let work = m.saturating_mul(n).saturating_mul(k);
    if work >= PARALLEL_FROM && threads > 1 && k >= LONG_REDUCTION * m.max(n) {
        // Too few output tiles to share (a weight gradient: (d, d') summed
        // over every token): each thread sums a slice of K, then the slices
        // are added in order.
        let parts: Vec<Vec<T>> = (0..threads)
            .into_par_iter()
            .map(|part| {
                let (k0, k1) = (k * part / threads, k * (part + 1) / threads);
                let mut out = Fresh::<T>::new(m * n);
                // SAFETY: as below, on the columns k0..k1 of lhs and the
                // rows k0..k1 of rhs.
                unsafe {
                    product_into(
                        out.slots().as_mut_ptr().cast::<T>(),
                        [m, k1 - k0, n],
                        (l, offset(l_off, k0, ls[1]), ls),
                        (r, offset(r_off, k0, rs[0]), rs),
                        gemm::Parallelism::None,
                    );
                    out.written()
                }
            })
            .collect();
        let mut parts = parts.into_iter();
        let mut sum = parts.next().expect("at least two parts");
        for part in parts {
            sum.iter_mut().zip(&part).for_each(|(s, &v)| *s += v);
        }
        return FlexTensor::from_data(TensorData::new(sum, [m, n]));
    }
    let mut out = Fresh::<T>::new(m * n);
    let parallelism = if work >= PARALLEL_FROM {
        gemm::Parallelism::Rayon(0)
    } else {
        gemm::Parallelism::None
    };
    // SAFETY: every element of both views lies in its storage (checked
    // above); `out` has M·N slots.
    unsafe {
        product_into(
            out.slots().as_mut_ptr().cast::<T>(),
            [m, k, n],
            (l, l_off, ls),
            (r, r_off, rs),
            parallelism,
        );
        // SAFETY: gemm wrote all M·N outputs (zeros when K = 0).
        FlexTensor::from_data(TensorData::new(out.written(), [m, n]))
    }
}

/// `start` moved `steps` elements of `stride` along a view.
fn offset(start: usize, steps: usize, stride: isize) -> usize {
    (start as isize + steps as isize * stride) as usize
}

/// dst (M, N), row-major and contiguous, = lhs (M, K) · rhs (K, N), each
/// operand its storage, the offset of its first element and its strides.
/// gemm writes every element of dst (zeros when K = 0) and reads none
/// (read_dst = false: dst = 1·(lhs·rhs)).
///
/// # Safety
/// dst has M·N writable elements; every element of both views lies in its
/// storage.
unsafe fn product_into<T: num_traits::Float + 'static>(
    dst: *mut T,
    [m, k, n]: [usize; 3],
    (l, l_off, ls): (&[T], usize, &[isize]),
    (r, r_off, rs): (&[T], usize, &[isize]),
    parallelism: gemm::Parallelism,
) {
    // SAFETY: the caller's guarantees are gemm's.
    unsafe {
        gemm::gemm(
            m,
            n,
            k,
            dst,
            1,
            n as isize,
            false,
            l.as_ptr().wrapping_add(l_off),
            ls[1],
            ls[0],
            r.as_ptr().wrapping_add(r_off),
            rs[1],
            rs[0],
            T::zero(),
            T::one(),
            false,
            false,
            false,
            parallelism,
        );
    }
}

/// Whether every element of the 2-D view `dims` at `offset` with `strides`
/// (possibly negative) lies in a storage of `len` elements.
fn fits(len: usize, offset: usize, dims: [usize; 2], strides: &[isize]) -> bool {
    if dims.contains(&0) {
        return true;
    }
    let (mut low, mut high) = (offset as isize, offset as isize);
    for (&d, &s) in dims.iter().zip(strides) {
        let reach = (d as isize - 1) * s;
        (low, high) = (low + reach.min(0), high + reach.max(0));
    }
    low >= 0 && (high as usize) < len
}

#[cfg(test)]
mod tests {
    use burn::tensor::{Tensor, TensorData, Tolerance};
    use burn_flex::Flex;

    use super::fits;
    use crate::ops::matmul::matmul;

    fn counting(rows: usize, cols: usize) -> Tensor<Flex, 2> {
        let values: Vec<f32> = (0..rows * cols).map(|i| (i as f32 * 0.37).sin()).collect();
        Tensor::from_data(TensorData::new(values, [rows, cols]), &Default::default())
    }

    #[test]
    fn strided_views_multiply_as_burn_does() {
        // Transposed, flipped and narrowed operands, small and above the
        // parallel threshold, and K = 0.
        for (m, k, n) in [(3, 4, 5), (200, 192, 200), (2, 0, 3)] {
            let a = counting(k, m + 2).transpose().narrow(0, 1, m).flip([1]);
            let b = counting(n, k).transpose();
            let want = a.clone().matmul(b.clone());
            let got = matmul(a, b).unwrap();
            got.into_data()
                .assert_approx_eq::<f32>(&want.into_data(), Tolerance::rel_abs(1e-6, 1e-6));
        }
    }

    #[test]
    fn long_reductions_summed_in_slices_of_k_match_burn() {
        // A weight gradient's shape: K slices per thread, added after. The
        // sums of 30,000 f32 terms differ from burn's in their order only.
        let (m, k, n) = (16, 30_000, 24);
        let a = counting(k, m).transpose();
        let b = counting(k, n + 1).narrow(1, 1, n);
        let want = a.clone().matmul(b.clone());
        let got = matmul(a, b).unwrap();
        got.into_data()
            .assert_approx_eq::<f32>(&want.into_data(), Tolerance::rel_abs(1e-5, 1e-4));
    }

    #[test]
    fn views_are_checked_against_their_storage() {
        assert!(fits(6, 0, [2, 3], &[3, 1]));
        assert!(fits(6, 0, [3, 2], &[1, 3]));
        assert!(!fits(5, 0, [2, 3], &[3, 1]));
        assert!(fits(6, 5, [2, 3], &[-3, -1]));
        assert!(!fits(6, 4, [2, 3], &[-3, -1]));
        assert!(fits(0, 0, [0, 3], &[3, 1]));
    }
}
