//! The Vandermonde product on CubeCL devices: the composite forward; the
//! backward is the CPU kernel through host memory until a GPU kernel lands.

use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use burn_flex::Flex;

use super::{VandermondeInputs, VandermondeOps, vandermonde_composite};
use crate::complex::ComplexTensor;
use crate::ops::host::{from_host, to_host};

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> VandermondeOps
    for CubeBackend<R, F, I, BT>
{
    fn vandermonde_prefers_composite() -> bool {
        true
    }

    fn vandermonde(i: VandermondeInputs<FloatTensor<Self>>, len: usize) -> FloatTensor<Self> {
        let t2 = |p| Tensor::<Self, 2>::from_primitive(TensorPrimitive::Float(p));
        let t3 = |p| Tensor::<Self, 3>::from_primitive(TensorPrimitive::Float(p));
        let w = ComplexTensor::new(t2(i.w_re), t2(i.w_im));
        let coef = ComplexTensor::new(t3(i.coef_re), t3(i.coef_im));
        vandermonde_composite(&w, &coef, len)
            .into_primitive()
            .tensor()
    }

    fn vandermonde_backward(
        i: VandermondeInputs<FloatTensor<Self>>,
        grad: FloatTensor<Self>,
    ) -> VandermondeInputs<FloatTensor<Self>> {
        // The CPU kernel through host memory: differentiating the composite
        // with a nested autodiff graph inside the outer backward pass stalls.
        let device = i.w_re.device.clone();
        let host = VandermondeInputs {
            w_re: to_host::<Self>(i.w_re),
            w_im: to_host::<Self>(i.w_im),
            coef_re: to_host::<Self>(i.coef_re),
            coef_im: to_host::<Self>(i.coef_im),
        };
        let g = Flex::vandermonde_backward(host, to_host::<Self>(grad));
        VandermondeInputs {
            w_re: from_host::<Self>(g.w_re, &device),
            w_im: from_host::<Self>(g.w_im, &device),
            coef_re: from_host::<Self>(g.coef_re, &device),
            coef_im: from_host::<Self>(g.coef_im, &device),
        }
    }
}
