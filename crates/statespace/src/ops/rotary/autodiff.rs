//! The rotary keys and queries under autodiff, with the backend's
//! backward (x, bias and θ kept; the rotation is recomputed).

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn_autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};

use super::{RotaryGrads, RotaryOps, RotaryPairs};

#[derive(Debug)]
struct RotaryBackward;

impl<B: Backend + RotaryOps> Backward<B, 3> for RotaryBackward {
    type State = (FloatTensor<B>, FloatTensor<B>, FloatTensor<B>, RotaryPairs);

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (x, bias, theta, pairs) = ops.state;
        let RotaryGrads { x, bias, theta } = B::rotary_backward(x, bias, theta, grad, pairs);
        let [node_x, node_bias, node_theta] = ops.parents;
        for (node, g) in [(node_x, x), (node_bias, bias), (node_theta, theta)] {
            if let Some(node) = node {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

impl<B: Backend + RotaryOps, C: CheckpointStrategy> RotaryOps for Autodiff<B, C> {
    fn rotary(
        x: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        theta: FloatTensor<Self>,
        pairs: RotaryPairs,
    ) -> FloatTensor<Self> {
        let y = B::rotary(
            x.primitive.clone(),
            bias.primitive.clone(),
            theta.primitive.clone(),
            pairs,
        );
        match RotaryBackward
            .prepare::<C>([x.node, bias.node, theta.node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => {
                prep.finish((x.primitive, bias.primitive, theta.primitive, pairs), y)
            }
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn rotary_backward(
        _x: FloatTensor<Self>,
        _bias: FloatTensor<Self>,
        _theta: FloatTensor<Self>,
        _grad: FloatTensor<Self>,
        _pairs: RotaryPairs,
    ) -> RotaryGrads<FloatTensor<Self>> {
        unimplemented!("second-order gradients of the rotary op are not supported")
    }
}
