//! GPU transforms: burn's CubeCL FFT, which needs power-of-two lengths
//! (length 1 is handled here: it is the identity).

use burn::tensor::Slice;
use burn::tensor::TensorMetadata;
use burn::tensor::ops::{FloatTensor, FloatTensorOps, ModuleOps};
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::SpectralOps;

/// The first element of the last dimension.
fn first<B: burn::tensor::backend::Backend>(t: FloatTensor<B>) -> FloatTensor<B> {
    let dims: Vec<usize> = t.shape().as_slice().to_vec();
    let ranges: Vec<Slice> = dims
        .iter()
        .enumerate()
        .map(|(i, &d)| Slice::from(if i + 1 == dims.len() { 0..1 } else { 0..d }))
        .collect();
    B::float_slice(t, &ranges)
}

/// `im` with the bins at `bins` of its last dimension set to zero.
fn zero_bins<B: burn::tensor::backend::Backend>(
    mut im: FloatTensor<B>,
    bins: &[usize],
) -> FloatTensor<B> {
    let dims: Vec<usize> = im.shape().as_slice().to_vec();
    let last = dims.len() - 1;
    for &bin in bins.iter().filter(|&&b| b < dims[last]) {
        let ranges: Vec<Slice> = dims
            .iter()
            .enumerate()
            .map(|(i, &d)| Slice::from(if i == last { bin..bin + 1 } else { 0..d }))
            .collect();
        let zeros = B::float_mul_scalar(B::float_slice(im.clone(), &ranges), 0.0.into());
        im = B::float_slice_assign(im, &ranges, zeros);
    }
    im
}

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> SpectralOps
    for CubeBackend<R, F, I, BT>
{
    fn spectral_rfft(
        signal: FloatTensor<Self>,
        n: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        if n == 1 {
            let x = first::<Self>(signal);
            let zeros = Self::float_mul_scalar(x.clone(), 0.0.into());
            return (x, zeros);
        }
        assert!(
            n.is_power_of_two(),
            "rfft on the GPU needs a power-of-two length, got {n}"
        );
        let last = signal.shape().num_dims() - 1;
        <Self as ModuleOps<Self>>::rfft(signal, last, Some(n))
    }

    fn spectral_irfft(re: FloatTensor<Self>, im: FloatTensor<Self>, n: usize) -> FloatTensor<Self> {
        if n == 1 {
            return first::<Self>(re);
        }
        assert!(
            n.is_power_of_two(),
            "irfft on the GPU needs a power-of-two length, got {n}"
        );
        // The DC and Nyquist bins are real by the trait's contract: their
        // imaginary parts (which gradients can carry) must not reach the
        // transform, which would otherwise use them.
        let im = zero_bins::<Self>(im, &[0, n / 2]);
        let last = re.shape().num_dims() - 1;
        <Self as ModuleOps<Self>>::irfft(re, im, last, Some(n))
    }
}
