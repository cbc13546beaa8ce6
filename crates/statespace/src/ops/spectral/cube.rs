//! GPU transforms: burn's CubeCL FFT, which needs power-of-two lengths.

use burn::tensor::TensorMetadata;
use burn::tensor::ops::{FloatTensor, ModuleOps};
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::SpectralOps;

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> SpectralOps
    for CubeBackend<R, F, I, BT>
{
    fn spectral_rfft(
        signal: FloatTensor<Self>,
        n: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        assert!(
            n.is_power_of_two(),
            "rfft on the GPU needs a power-of-two length, got {n}"
        );
        let last = signal.shape().num_dims() - 1;
        <Self as ModuleOps<Self>>::rfft(signal, last, Some(n))
    }

    fn spectral_irfft(re: FloatTensor<Self>, im: FloatTensor<Self>, n: usize) -> FloatTensor<Self> {
        assert!(
            n.is_power_of_two(),
            "irfft on the GPU needs a power-of-two length, got {n}"
        );
        let last = re.shape().num_dims() - 1;
        <Self as ModuleOps<Self>>::irfft(re, im, last, Some(n))
    }
}
