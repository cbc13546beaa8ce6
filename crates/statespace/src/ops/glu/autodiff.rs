//! GLU under autodiff, with the backend's backward.

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn_autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};

use super::GluOps;

#[derive(Debug)]
struct GluBackward;

impl<B: Backend + GluOps> Backward<B, 1> for GluBackward {
    type State = FloatTensor<B>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        if let [Some(node)] = ops.parents {
            grads.register::<B>(node.id, B::glu_backward(ops.state, grad));
        }
    }
}

impl<B: Backend + GluOps, C: CheckpointStrategy> GluOps for Autodiff<B, C> {
    fn glu(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let y = B::glu(x.primitive.clone());
        match GluBackward
            .prepare::<C>([x.node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(x.primitive, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn glu_backward(_x: FloatTensor<Self>, _grad: FloatTensor<Self>) -> FloatTensor<Self> {
        unimplemented!("second-order gradients of GLU are not supported")
    }
}
