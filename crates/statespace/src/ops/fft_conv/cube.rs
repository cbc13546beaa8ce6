//! The convolution on CubeCL devices: the composite spectral form.

use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::{FftConvOps, causal_conv_composite};

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> FftConvOps
    for CubeBackend<R, F, I, BT>
{
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
        // Differentiate the composite form with a local autodiff graph.
        type Ad<R, F, I, BT> = burn_autodiff::Autodiff<CubeBackend<R, F, I, BT>>;
        let u = Tensor::<Ad<R, F, I, BT>, 3>::from_inner(Tensor::from_primitive(
            TensorPrimitive::Float(u),
        ))
        .require_grad();
        let k = Tensor::<Ad<R, F, I, BT>, 3>::from_inner(Tensor::from_primitive(
            TensorPrimitive::Float(k),
        ))
        .require_grad();
        let d = Tensor::<Ad<R, F, I, BT>, 2>::from_inner(Tensor::from_primitive(
            TensorPrimitive::Float(d),
        ))
        .require_grad();
        let gy = Tensor::<Ad<R, F, I, BT>, 3>::from_inner(Tensor::from_primitive(
            TensorPrimitive::Float(grad_y),
        ));
        let grads = (causal_conv_composite(u.clone(), k.clone(), d.clone()) * gy)
            .sum()
            .backward();
        (
            u.grad(&grads).expect("tracked").into_primitive().tensor(),
            k.grad(&grads).expect("tracked").into_primitive().tensor(),
            d.grad(&grads).expect("tracked").into_primitive().tensor(),
        )
    }
}
