//! The DPLR generating function under autodiff, with the backend's backward.

use burn::tensor::ops::FloatTensor;
use burn_autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};
use num_complex::Complex64;

use super::{DplrSpectrumInputs, DplrSpectrumOps};

#[derive(Debug)]
struct DplrSpectrumBackward;

impl<B: DplrSpectrumOps> Backward<B, 9> for DplrSpectrumBackward {
    type State = (DplrSpectrumInputs<FloatTensor<B>>, Vec<Complex64>);

    fn backward(self, ops: Ops<Self::State, 9>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<B>(&ops.node);
        let (inputs, nodes) = ops.state;
        let g = B::dplr_spectrum_backward(inputs, &nodes, grad);
        for (parent, grad) in ops.parents.into_iter().zip(g.into_array()) {
            if let Some(node) = parent {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: DplrSpectrumOps, C: CheckpointStrategy> DplrSpectrumOps for Autodiff<B, C> {
    fn dplr_spectrum(
        inputs: DplrSpectrumInputs<FloatTensor<Self>>,
        nodes: &[Complex64],
    ) -> FloatTensor<Self> {
        let parents = inputs.clone().into_array().map(|t| t.node.clone());
        let inner = inputs.map(|t| t.primitive);
        let y = B::dplr_spectrum(inner.clone(), nodes);
        match DplrSpectrumBackward
            .prepare::<C>(parents)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish((inner, nodes.to_vec()), y),
            OpsKind::UnTracked(prep) => prep.finish(y),
        }
    }

    fn dplr_spectrum_backward(
        _inputs: DplrSpectrumInputs<FloatTensor<Self>>,
        _nodes: &[Complex64],
        _grad: FloatTensor<Self>,
    ) -> DplrSpectrumInputs<FloatTensor<Self>> {
        unimplemented!("second-order gradients of the DPLR spectrum are not supported")
    }
}
