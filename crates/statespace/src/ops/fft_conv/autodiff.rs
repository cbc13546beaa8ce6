//! The convolution under autodiff, with the backend's backward pass.

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn_autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};

use super::FftConvOps;

#[derive(Debug)]
struct ConvBackward;

impl<B: Backend + FftConvOps> Backward<B, 3> for ConvBackward {
    /// u, k, d and the FFT length n.
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, usize);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (u, k, d, n) = ops.state;
        let grad = grads.consume::<B>(&ops.node);
        let (du, dk, dd) = B::fft_conv_backward(u, k, d, grad, n);
        for (node, g) in ops.parents.into_iter().zip([du, dk, dd]) {
            if let Some(node) = node {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

impl<B: Backend + FftConvOps, C: CheckpointStrategy> FftConvOps for Autodiff<B, C> {
    fn fft_conv_prefers_composite() -> bool {
        B::fft_conv_prefers_composite()
    }

    fn fft_conv(
        u: FloatTensor<Self>,
        k: FloatTensor<Self>,
        d: FloatTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        let nodes = [u.node.clone(), k.node.clone(), d.node.clone()];
        let y = B::fft_conv(
            u.primitive.clone(),
            k.primitive.clone(),
            d.primitive.clone(),
            n,
        );
        match ConvBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((u.primitive, k.primitive, d.primitive, n), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn fft_conv_backward(
        _u: FloatTensor<Self>,
        _k: FloatTensor<Self>,
        _d: FloatTensor<Self>,
        _grad_y: FloatTensor<Self>,
        _n: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        unimplemented!("second-order gradients of the FFT convolution are not supported")
    }
}
