//! The diagonal kernel under autodiff, with the backend's backward.

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn_autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};

use super::{DiagonalKernelOps, DiagonalSystem};
use crate::discretize::Discretization;

#[derive(Debug)]
struct DiagonalKernelBackward;

impl<B: Backend + DiagonalKernelOps> Backward<B, 7> for DiagonalKernelBackward {
    type State = (DiagonalSystem<FloatTensor<B>>, Discretization);

    fn backward(self, ops: Ops<Self::State, 7>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (system, rule) = ops.state;
        let g = B::diagonal_kernel_backward(system, rule, grad);
        for (parent, grad) in ops.parents.into_iter().zip(g.into_array()) {
            if let Some(node) = parent {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: Backend + DiagonalKernelOps, C: CheckpointStrategy> DiagonalKernelOps for Autodiff<B, C> {
    fn diagonal_kernel(
        system: DiagonalSystem<FloatTensor<Self>>,
        rule: Discretization,
        len: usize,
    ) -> FloatTensor<Self> {
        let nodes = [
            system.dt.node.clone(),
            system.a_re.node.clone(),
            system.a_im.node.clone(),
            system.b_re.node.clone(),
            system.b_im.node.clone(),
            system.c_re.node.clone(),
            system.c_im.node.clone(),
        ];
        let inner = system.map(|t| t.primitive);
        let k = B::diagonal_kernel(inner.clone(), rule, len);
        match DiagonalKernelBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((inner, rule), k),
            OpsKind::UnTracked(prep) => prep.finish(k),
        }
    }

    fn diagonal_kernel_backward(
        _system: DiagonalSystem<FloatTensor<Self>>,
        _rule: Discretization,
        _grad: FloatTensor<Self>,
    ) -> DiagonalSystem<FloatTensor<Self>> {
        unimplemented!("second-order gradients of the diagonal kernel are not supported")
    }
}
