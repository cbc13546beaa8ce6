//! The diagonal scan under autodiff: the backend's forward scan, and its
//! backward (the other direction's scan of ∂x with conj(λ)).

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn_autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};

use super::{DiagonalScanGrads, DiagonalScanOps};

#[derive(Debug)]
struct DiagonalScanBackward {
    reverse: bool,
}

impl<B: Backend + DiagonalScanOps> Backward<B, 3> for DiagonalScanBackward {
    /// λ, x0 and the output x.
    type State = [FloatTensor<B>; 3];

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let [lambda, x0, x] = ops.state;
        let g = B::diagonal_scan_backward(lambda, x0, x, grad, self.reverse);
        for (parent, grad) in ops.parents.into_iter().zip([g.lambda, g.u, g.x0]) {
            if let Some(node) = parent {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: Backend + DiagonalScanOps, C: CheckpointStrategy> DiagonalScanOps for Autodiff<B, C> {
    fn diagonal_scan(
        lambda: FloatTensor<Self>,
        u: FloatTensor<Self>,
        x0: FloatTensor<Self>,
        reverse: bool,
    ) -> FloatTensor<Self> {
        let nodes = [lambda.node.clone(), u.node.clone(), x0.node.clone()];
        let x = B::diagonal_scan(
            lambda.primitive.clone(),
            u.primitive,
            x0.primitive.clone(),
            reverse,
        );
        let backward = DiagonalScanBackward { reverse };
        match backward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish([lambda.primitive, x0.primitive, x.clone()], x),
            OpsKind::UnTracked(prep) => prep.finish(x),
        }
    }

    fn diagonal_scan_backward(
        _lambda: FloatTensor<Self>,
        _x0: FloatTensor<Self>,
        _x: FloatTensor<Self>,
        _grad: FloatTensor<Self>,
        _reverse: bool,
    ) -> DiagonalScanGrads<FloatTensor<Self>> {
        unimplemented!("second-order gradients of the diagonal scan are not supported")
    }
}
