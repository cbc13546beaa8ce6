//! The norm under autodiff, with the backend's backward pass. (The
//! backward op called on autodiff tensors directly is the trait's
//! differentiable composite.)

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::ops::FloatTensor;
use burn_autodiff::{
    Autodiff, NodeId,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};

use super::{BatchNormForward, NormForward, NormGrads, NormKind, NormOps};

/// The backward pass of a norm; its inputs are x and w, and b for
/// LayerNorm.
#[derive(Debug)]
struct NormBackward {
    kind: NormKind,
}

/// x, w, μ and r of the forward pass.
type Saved<B> = [FloatTensor<B>; 4];

impl<B: NormOps, const N: usize> Backward<B, N> for NormBackward {
    type State = Saved<B>;

    fn backward(self, ops: Ops<Self::State, N>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x, weight, mean, rstd] = ops.state;
        let grad = grads.consume::<B>(&ops.node);
        let g = B::norm_backward(x, weight, (mean, rstd), self.kind, grad);
        register::<B, N>(ops.parents.map(|node| node.map(|node| node.id)), g, grads);
    }
}

/// Registers ∂x, ∂w and (where there is one) ∂b with the parents x, w
/// and b that track gradients (their node ids, in that order).
fn register<B: NormOps, const N: usize>(
    parents: [Option<NodeId>; N],
    g: NormGrads<FloatTensor<B>>,
    grads: &mut Gradients,
) {
    let all = [Some(g.x), Some(g.weight), g.bias];
    for (id, g) in parents.into_iter().zip(all) {
        if let (Some(id), Some(g)) = (id, g) {
            grads.register::<B>(id, g);
        }
    }
}

/// The backward pass of BatchNorm in training; its inputs are x, w and b.
#[derive(Debug)]
struct BatchNormBackward {
    eps: f64,
}

impl<B: NormOps> Backward<B, 3> for BatchNormBackward {
    /// x, w, μ and σ² of the forward pass.
    type State = Saved<B>;

    fn backward(self, ops: Ops<Self::State, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let [x, weight, mean, var] = ops.state;
        let grad = grads.consume::<B>(&ops.node);
        let g = B::batch_norm_backward(x, weight, (mean, var), self.eps, grad);
        register::<B, 3>(ops.parents.map(|node| node.map(|node| node.id)), g, grads);
    }
}

impl<B: NormOps, C: CheckpointStrategy> NormOps for Autodiff<B, C> {
    fn batch_norm_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: FloatTensor<Self>,
        eps: f64,
    ) -> BatchNormForward<FloatTensor<Self>> {
        let inner = B::batch_norm_forward(
            x.primitive.clone(),
            weight.primitive.clone(),
            bias.primitive,
            eps,
        );
        let saved = [
            x.primitive,
            weight.primitive,
            inner.mean.clone(),
            inner.var.clone(),
        ];
        let op = BatchNormBackward { eps };
        let y = match op
            .prepare::<C>([x.node, weight.node, bias.node])
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(saved, inner.y),
            OpsKind::UnTracked(prep) => prep.finish(inner.y),
        };
        BatchNormForward {
            y,
            mean: Self::from_inner(inner.mean),
            var: Self::from_inner(inner.var),
        }
    }

    fn norm_forward(
        x: FloatTensor<Self>,
        weight: FloatTensor<Self>,
        bias: Option<FloatTensor<Self>>,
        eps: f64,
        kind: NormKind,
    ) -> NormForward<FloatTensor<Self>> {
        let inner = B::norm_forward(
            x.primitive.clone(),
            weight.primitive.clone(),
            bias.as_ref().map(|b| b.primitive.clone()),
            eps,
            kind,
        );
        let saved = [
            x.primitive,
            weight.primitive,
            inner.mean.clone(),
            inner.rstd.clone(),
        ];
        let op = NormBackward { kind };
        let y = match bias {
            Some(b) => match op
                .prepare::<C>([x.node, weight.node, b.node])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(saved, inner.y),
                OpsKind::UnTracked(prep) => prep.finish(inner.y),
            },
            None => match op
                .prepare::<C>([x.node, weight.node])
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(saved, inner.y),
                OpsKind::UnTracked(prep) => prep.finish(inner.y),
            },
        };
        NormForward {
            y,
            mean: Self::from_inner(inner.mean),
            rstd: Self::from_inner(inner.rstd),
        }
    }
}
