//! SSD under autodiff: y and the final state are tracked as one node
//! (flattened and concatenated), whose backward calls the backend's
//! hand-written backward pass.

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Shape, Slice, TensorMetadata};
use burn_autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};

use super::{SsdArgs, SsdOps, SsdProblem, SsdTensors};

#[derive(Debug)]
struct SsdBackward;

/// What the backward pass needs: the inputs, the arguments and the output shapes.
#[derive(Debug, Clone)]
struct Saved<B: Backend> {
    inputs: SsdTensors<FloatTensor<B>>,
    args: SsdArgs,
    y_shape: Shape,
    final_shape: Shape,
}

fn flat<B: Backend>(t: FloatTensor<B>) -> FloatTensor<B> {
    let numel = t.shape().num_elements();
    B::float_reshape(t, Shape::new([numel]))
}

fn part<B: Backend>(t: FloatTensor<B>, start: usize, shape: &Shape) -> FloatTensor<B> {
    let numel = shape.num_elements();
    B::float_reshape(
        B::float_slice(t, &[Slice::from(start..start + numel)]),
        shape.clone(),
    )
}

impl<B: Backend + SsdOps> Backward<B, 5> for SsdBackward {
    type State = Saved<B>;

    fn backward(self, ops: Ops<Self::State, 5>, grads: &mut Gradients, _: &mut Checkpointer) {
        let saved = ops.state;
        let grad = grads.consume::<B>(&ops.node);
        let y_numel = saved.y_shape.num_elements();
        let grad_y = part::<B>(grad.clone(), 0, &saved.y_shape);
        let grad_final = part::<B>(grad, y_numel, &saved.final_shape);
        let g = B::ssd_backward(saved.inputs, grad_y, grad_final, &saved.args);
        let results = [g.x, g.a, g.b, g.c, g.initial_state];
        for (parent, grad) in ops.parents.into_iter().zip(results) {
            if let Some(node) = parent {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: Backend + SsdOps, C: CheckpointStrategy> SsdOps for Autodiff<B, C> {
    fn ssd_prefers_chunked(problem: &SsdProblem) -> bool {
        B::ssd_prefers_chunked(problem)
    }

    fn ssd_forward(
        inputs: SsdTensors<FloatTensor<Self>>,
        args: &SsdArgs,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let nodes = [
            inputs.x.node.clone(),
            inputs.a.node.clone(),
            inputs.b.node.clone(),
            inputs.c.node.clone(),
            inputs.initial_state.node.clone(),
        ];
        let inner = SsdTensors {
            x: inputs.x.primitive,
            a: inputs.a.primitive,
            b: inputs.b.primitive,
            c: inputs.c.primitive,
            initial_state: inputs.initial_state.primitive,
        };
        let (y, last) = B::ssd_forward(inner.clone(), args);
        let (y_shape, final_shape) = (y.shape(), last.shape());
        let both = B::float_cat(vec![flat::<B>(y), flat::<B>(last)], 0);
        let both = match SsdBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(
                Saved {
                    inputs: inner,
                    args: args.clone(),
                    y_shape: y_shape.clone(),
                    final_shape: final_shape.clone(),
                },
                both,
            ),
            OpsKind::UnTracked(prep) => prep.finish(both),
        };
        let y_numel = y_shape.num_elements();
        (
            part::<Self>(both.clone(), 0, &y_shape),
            part::<Self>(both, y_numel, &final_shape),
        )
    }

    fn ssd_backward(
        _inputs: SsdTensors<FloatTensor<Self>>,
        _grad_y: FloatTensor<Self>,
        _grad_final: FloatTensor<Self>,
        _args: &SsdArgs,
    ) -> SsdTensors<FloatTensor<Self>> {
        unimplemented!("second-order gradients of SSD are not supported")
    }
}
