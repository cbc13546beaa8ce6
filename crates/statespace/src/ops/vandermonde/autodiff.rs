//! The Vandermonde product under autodiff, with the backend's backward.

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn_autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};

use super::{VandermondeInputs, VandermondeOps};

#[derive(Debug)]
struct VandermondeBackward;

impl<B: Backend + VandermondeOps> Backward<B, 4> for VandermondeBackward {
    type State = VandermondeInputs<FloatTensor<B>>;

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let g = B::vandermonde_backward(ops.state, grad);
        for (parent, grad) in ops
            .parents
            .into_iter()
            .zip([g.w_re, g.w_im, g.coef_re, g.coef_im])
        {
            if let Some(node) = parent {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: Backend + VandermondeOps, C: CheckpointStrategy> VandermondeOps for Autodiff<B, C> {
    fn vandermonde(inputs: VandermondeInputs<FloatTensor<Self>>, len: usize) -> FloatTensor<Self> {
        let nodes = [
            inputs.w_re.node.clone(),
            inputs.w_im.node.clone(),
            inputs.coef_re.node.clone(),
            inputs.coef_im.node.clone(),
        ];
        let inner = VandermondeInputs {
            w_re: inputs.w_re.primitive,
            w_im: inputs.w_im.primitive,
            coef_re: inputs.coef_re.primitive,
            coef_im: inputs.coef_im.primitive,
        };
        let k = B::vandermonde(inner.clone(), len);
        match VandermondeBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(inner, k),
            OpsKind::UnTracked(prep) => prep.finish(k),
        }
    }

    fn vandermonde_backward(
        _inputs: VandermondeInputs<FloatTensor<Self>>,
        _grad: FloatTensor<Self>,
    ) -> VandermondeInputs<FloatTensor<Self>> {
        unimplemented!("second-order gradients of the Vandermonde product are not supported")
    }
}
