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
        let last = re.shape().num_dims() - 1;
        <Self as ModuleOps<Self>>::irfft(re, im, last, Some(n))
    }
}
