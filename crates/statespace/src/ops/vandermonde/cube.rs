//! The Vandermonde product on CubeCL devices: the composite form.

use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::{VandermondeInputs, VandermondeOps, vandermonde_composite};
use crate::complex::ComplexTensor;

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> VandermondeOps
    for CubeBackend<R, F, I, BT>
{
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
        type Ad<R, F, I, BT> = burn_autodiff::Autodiff<CubeBackend<R, F, I, BT>>;
        let t2 = |p| {
            Tensor::<Ad<R, F, I, BT>, 2>::from_inner(Tensor::from_primitive(
                TensorPrimitive::Float(p),
            ))
            .require_grad()
        };
        let t3 = |p| {
            Tensor::<Ad<R, F, I, BT>, 3>::from_inner(Tensor::from_primitive(
                TensorPrimitive::Float(p),
            ))
            .require_grad()
        };
        let w = ComplexTensor::new(t2(i.w_re), t2(i.w_im));
        let coef = ComplexTensor::new(t3(i.coef_re), t3(i.coef_im));
        let len = burn::tensor::TensorMetadata::shape(&grad)[2];
        let g = Tensor::<Ad<R, F, I, BT>, 3>::from_inner(Tensor::from_primitive(
            TensorPrimitive::Float(grad),
        ));
        let grads = (vandermonde_composite(&w, &coef, len) * g).sum().backward();
        let out2 = |t: &Tensor<Ad<R, F, I, BT>, 2>| {
            t.grad(&grads).expect("tracked").into_primitive().tensor()
        };
        let out3 = |t: &Tensor<Ad<R, F, I, BT>, 3>| {
            t.grad(&grads).expect("tracked").into_primitive().tensor()
        };
        VandermondeInputs {
            w_re: out2(&w.re),
            w_im: out2(&w.im),
            coef_re: out3(&coef.re),
            coef_im: out3(&coef.im),
        }
    }
}
