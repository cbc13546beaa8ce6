//! The lookup under autodiff: the backward pass is the backend's
//! scatter-add of ∂out into the table's shape.

use burn::tensor::TensorMetadata;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn_autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};

use super::EmbeddingOps;

#[derive(Debug)]
struct LookupBackward;

impl<B: EmbeddingOps> Backward<B, 1> for LookupBackward {
    /// The indices and the table's row count.
    type State = (IntTensor<B>, usize);

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (indices, vocab) = ops.state;
        let grad = grads.consume::<B>(&ops.node);
        if let [Some(node)] = ops.parents {
            grads.register::<B>(node.id, B::embedding_grad(grad, indices, vocab));
        }
    }
}

impl<B: EmbeddingOps, C: CheckpointStrategy> EmbeddingOps for Autodiff<B, C> {
    fn embedding_lookup(weight: FloatTensor<Self>, indices: IntTensor<Self>) -> FloatTensor<Self> {
        let vocab = weight.primitive.shape()[0];
        let out = B::embedding_lookup(weight.primitive, indices.clone());
        match LookupBackward
            .prepare::<C>([weight.node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((indices, vocab), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}
