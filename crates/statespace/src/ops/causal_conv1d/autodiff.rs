//! The convolution under autodiff, with the backend's backward pass. (The
//! backward op called on autodiff tensors directly is the trait's
//! differentiable composite.)

use burn::tensor::ops::FloatTensor;
use burn_autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};

use super::CausalConv1dOps;

#[derive(Debug)]
struct ConvBackward {
    silu: bool,
}

impl<B: CausalConv1dOps> Backward<B, 4> for ConvBackward {
    type State = [FloatTensor<B>; 4];

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x, history, weight, bias] = ops.state;
        let grad = grads.consume::<B>(&ops.node);
        let g = B::causal_conv1d_backward(x, history, weight, bias, self.silu, grad);
        for (node, g) in ops
            .parents
            .into_iter()
            .zip([g.x, g.history, g.weight, g.bias])
        {
            if let Some(node) = node {
                grads.register::<B>(node.id, g);
            }
        }
    }
}

impl<B: CausalConv1dOps, C: CheckpointStrategy> CausalConv1dOps for Autodiff<B, C> {
    fn causal_conv1d_forward(
        x: FloatTensor<Self>,
        history: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        silu: bool,
    ) -> FloatTensor<Self> {
        let nodes = [&x, &history, &weight, &bias].map(|t| t.node.clone());
        let y = B::causal_conv1d_forward(
            x.primitive.clone(),
            history.primitive.clone(),
            weight.primitive.clone(),
            bias.primitive.clone(),
            silu,
        );
        let op = ConvBackward { silu };
        match op.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(
                [
                    x.primitive,
                    history.primitive,
                    weight.primitive,
                    bias.primitive,
                ],
                y,
            ),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }
}
