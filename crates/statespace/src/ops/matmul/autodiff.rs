//! The full-precision matmul under autodiff: both gradients are products
//! through the same routine.

use burn::tensor::Shape;
use burn::tensor::TensorMetadata;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn_autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};

use super::MatmulOps;

#[derive(Debug)]
struct MatmulBackward;

/// Sums `grad` over the leading dimensions that `shape` broadcast (size 1).
fn unbroadcast<B: Backend>(mut grad: FloatTensor<B>, shape: &Shape) -> FloatTensor<B> {
    let grad_shape = grad.shape();
    let rank = shape.num_dims();
    for dim in 0..rank.saturating_sub(2) {
        if shape[dim] == 1 && grad_shape[dim] != 1 {
            grad = B::float_sum_dim(grad, dim);
        }
    }
    grad
}

fn transpose<B: Backend>(t: FloatTensor<B>) -> FloatTensor<B> {
    let rank = t.shape().num_dims();
    B::float_swap_dims(t, rank - 2, rank - 1)
}

impl<B: MatmulOps> Backward<B, 2> for MatmulBackward {
    type State = (FloatTensor<B>, FloatTensor<B>);

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let (lhs, rhs) = ops.state;
        let grad = grads.consume::<B>(&ops.node);
        let [lhs_node, rhs_node] = ops.parents;
        if let Some(node) = lhs_node {
            let shape = lhs.shape();
            let g = B::exact_matmul(grad.clone(), transpose::<B>(rhs.clone()));
            grads.register::<B>(node.id, unbroadcast::<B>(g, &shape));
        }
        if let Some(node) = rhs_node {
            let shape = rhs.shape();
            let g = B::exact_matmul(transpose::<B>(lhs), grad);
            grads.register::<B>(node.id, unbroadcast::<B>(g, &shape));
        }
    }
}

#[derive(Debug)]
struct BiasBackward;

impl<B: MatmulOps> Backward<B, 2> for BiasBackward {
    type State = ();

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let [y_node, b_node] = ops.parents;
        if let Some(node) = b_node {
            grads.register::<B>(node.id, B::column_sum(grad.clone()));
        }
        if let Some(node) = y_node {
            grads.register::<B>(node.id, grad);
        }
    }
}

impl<B: MatmulOps, C: CheckpointStrategy> MatmulOps for Autodiff<B, C> {
    fn add_bias(y: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        let nodes = [y.node.clone(), b.node.clone()];
        let out = B::add_bias(y.primitive, b.primitive);
        BiasBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateless(out)
    }

    fn exact_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        let nodes = [lhs.node.clone(), rhs.node.clone()];
        let out = B::exact_matmul(lhs.primitive.clone(), rhs.primitive.clone());
        match MatmulBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((lhs.primitive, rhs.primitive), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}
