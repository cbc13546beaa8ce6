//! The DPLR generating function on CubeCL devices: the CPU kernel through
//! host memory, each way (the inputs are (H, N)-sized, the result
//! (H, Cc, S)). A device kernel is not written yet.

use burn::tensor::ops::FloatTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use burn_flex::Flex;
use num_complex::Complex64;

use super::{DplrSpectrumInputs, DplrSpectrumOps};
use crate::ops::support::host::{from_host, to_host};

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> DplrSpectrumOps
    for CubeBackend<R, F, I, BT>
{
    fn dplr_spectrum(
        inputs: DplrSpectrumInputs<FloatTensor<Self>>,
        nodes: &[Complex64],
    ) -> FloatTensor<Self> {
        let device = inputs.dt.device.clone();
        let host = inputs.map(to_host::<Self>);
        from_host::<Self>(Flex::dplr_spectrum(host, nodes), &device)
    }

    fn dplr_spectrum_backward(
        inputs: DplrSpectrumInputs<FloatTensor<Self>>,
        nodes: &[Complex64],
        grad: FloatTensor<Self>,
    ) -> DplrSpectrumInputs<FloatTensor<Self>> {
        let device = inputs.dt.device.clone();
        let host = inputs.map(to_host::<Self>);
        Flex::dplr_spectrum_backward(host, nodes, to_host::<Self>(grad))
            .map(|t| from_host::<Self>(t, &device))
    }
}
