//! GPU transforms: burn's CubeCL FFT, which needs power-of-two lengths.

use burn::backend::TensorMetadata;
use burn::backend::tensor::FloatTensor;
use burn_cubecl::CubeBackend;

use super::SpectralOps;

impl SpectralOps for CubeBackend {
    fn spectral_rfft(
        signal: FloatTensor<Self>,
        n: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        assert!(
            n.is_power_of_two(),
            "rfft on the GPU needs a power-of-two length, got {n}"
        );
        let last = signal.shape().num_dims() - 1;
        <Self as burn_signal::SignalOps>::rfft(signal, last, Some(n))
    }

    fn spectral_irfft(re: FloatTensor<Self>, im: FloatTensor<Self>, n: usize) -> FloatTensor<Self> {
        assert!(
            n.is_power_of_two(),
            "irfft on the GPU needs a power-of-two length, got {n}"
        );
        let last = re.shape().num_dims() - 1;
        <Self as burn_signal::SignalOps>::irfft(re, im, last, Some(n))
    }
}
