//! The 2-D scan under autodiff: the backend's forward, and its backward
//! from the saved inputs (the states are recomputed, not kept).

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn_autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};

use super::{Scan2dInputs, Scan2dOps};

#[derive(Debug)]
struct Scan2dBackward;

impl<B: Backend + Scan2dOps> Backward<B, 11> for Scan2dBackward {
    /// The eleven inputs.
    type State = Scan2dInputs<FloatTensor<B>>;

    fn backward(self, ops: Ops<Self::State, 11>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let g = B::scan2d_backward(ops.state, grad);
        for (parent, grad) in ops.parents.into_iter().zip(g.into_array()) {
            if let Some(node) = parent {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: Backend + Scan2dOps, C: CheckpointStrategy> Scan2dOps for Autodiff<B, C> {
    fn scan2d(x: Scan2dInputs<FloatTensor<Self>>) -> FloatTensor<Self> {
        let nodes = x.clone().into_array().map(|t| t.node);
        let inner = x.map(|t| t.primitive);
        let y = B::scan2d(inner.clone());
        match Scan2dBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(inner, y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn scan2d_backward(
        _x: Scan2dInputs<FloatTensor<Self>>,
        _grad: FloatTensor<Self>,
    ) -> Scan2dInputs<FloatTensor<Self>> {
        unimplemented!("second-order gradients of the 2-D scan are not supported")
    }
}
