//! The Cauchy product under autodiff, with the backend's backward.

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn_autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use num_complex::Complex64;

use super::{CauchyInputs, CauchyOps};

#[derive(Debug)]
struct CauchyBackward;

impl<B: Backend + CauchyOps> Backward<B, 4> for CauchyBackward {
    type State = (CauchyInputs<FloatTensor<B>>, Vec<Complex64>);

    fn backward(self, ops: Ops<Self::State, 4>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (inputs, nodes) = ops.state;
        let g = B::cauchy_backward(inputs, &nodes, grad);
        for (parent, grad) in ops
            .parents
            .into_iter()
            .zip([g.v_re, g.v_im, g.z_re, g.z_im])
        {
            if let Some(node) = parent {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: Backend + CauchyOps, C: CheckpointStrategy> CauchyOps for Autodiff<B, C> {
    fn cauchy(inputs: CauchyInputs<FloatTensor<Self>>, nodes: &[Complex64]) -> FloatTensor<Self> {
        let parents = [
            inputs.v_re.node.clone(),
            inputs.v_im.node.clone(),
            inputs.z_re.node.clone(),
            inputs.z_im.node.clone(),
        ];
        let inner = inputs.map(|t| t.primitive);
        let y = B::cauchy(inner.clone(), nodes);
        match CauchyBackward
            .prepare::<C>(parents)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((inner, nodes.to_vec()), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn cauchy_backward(
        _inputs: CauchyInputs<FloatTensor<Self>>,
        _nodes: &[Complex64],
        _grad: FloatTensor<Self>,
    ) -> CauchyInputs<FloatTensor<Self>> {
        unimplemented!("second-order gradients of the Cauchy product are not supported")
    }
}
