//! Running sums under autodiff: the backward of one direction is the other
//! direction's sums of ∂y, through the backend.

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn_autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops},
};

use super::PrefixSumOps;

#[derive(Debug)]
struct PrefixSumBackward {
    reverse: bool,
}

impl<B: Backend + PrefixSumOps> Backward<B, 1> for PrefixSumBackward {
    type State = ();

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        if let [Some(node)] = ops.parents {
            grads.register::<B>(node.id, B::prefix_sum(grad, !self.reverse));
        }
    }
}

impl<B: Backend + PrefixSumOps, C: CheckpointStrategy> PrefixSumOps for Autodiff<B, C> {
    fn prefix_sum(x: FloatTensor<Self>, reverse: bool) -> FloatTensor<Self> {
        let y = B::prefix_sum(x.primitive, reverse);
        PrefixSumBackward { reverse }
            .prepare::<C>([x.node])
            .compute_bound()
            .stateless(y)
    }
}
