//! The convolution on CubeCL devices: the composite spectral form forward;
//! the backward is the CPU kernel through host memory until a GPU kernel
//! lands.

use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use burn_flex::Flex;

use super::{FftConvOps, causal_conv_composite};
use crate::ops::host::{from_host, to_host};

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> FftConvOps
    for CubeBackend<R, F, I, BT>
{
    fn fft_conv_prefers_composite() -> bool {
        true
    }

    fn fft_conv(
        u: FloatTensor<Self>,
        k: FloatTensor<Self>,
        d: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        let u = Tensor::<Self, 3>::from_primitive(TensorPrimitive::Float(u));
        let k = Tensor::<Self, 3>::from_primitive(TensorPrimitive::Float(k));
        let d = Tensor::<Self, 2>::from_primitive(TensorPrimitive::Float(d));
        causal_conv_composite(u, k, d).into_primitive().tensor()
    }

    fn fft_conv_backward(
        u: FloatTensor<Self>,
        k: FloatTensor<Self>,
        d: FloatTensor<Self>,
        grad_y: FloatTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        // The CPU kernel through host memory: differentiating the composite
        // with a nested autodiff graph inside the outer backward pass stalls.
        let device = u.device.clone();
        let (du, dk, dd) = Flex::fft_conv_backward(
            to_host::<Self>(u),
            to_host::<Self>(k),
            to_host::<Self>(d),
            to_host::<Self>(grad_y),
        );
        (
            from_host::<Self>(du, &device),
            from_host::<Self>(dk, &device),
            from_host::<Self>(dd, &device),
        )
    }
}
