//! The selective scan under autodiff: the two outputs are tracked as one
//! node (flattened and concatenated), whose backward calls the backend's
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

use super::{ScanArgs, ScanTensors, SelectiveScanOps};

#[derive(Debug)]
struct ScanBackward;

/// What the backward pass needs: the inputs, the arguments and the output shapes.
#[derive(Debug, Clone)]
struct Saved<B: Backend> {
    inputs: ScanTensors<FloatTensor<B>>,
    args: ScanArgs,
    out_shape: Shape,
    last_shape: Shape,
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

impl<B: Backend + SelectiveScanOps> Backward<B, 9> for ScanBackward {
    type State = Saved<B>;

    fn backward(self, ops: Ops<Self::State, 9>, grads: &mut Gradients, _: &mut Checkpointer) {
        let saved = ops.state;
        let grad = grads.consume::<B>(&ops.node);
        let out_numel = saved.out_shape.num_elements();
        let grad_out = part::<B>(grad.clone(), 0, &saved.out_shape);
        let grad_last = part::<B>(grad, out_numel, &saved.last_shape);
        let g = B::selective_scan_backward(saved.inputs, grad_out, grad_last, &saved.args);
        let results = [
            g.u,
            g.delta,
            g.a,
            g.b,
            g.c,
            g.d,
            g.z,
            g.delta_bias,
            g.initial_state,
        ];
        for (parent, grad) in ops.parents.into_iter().zip(results) {
            if let Some(node) = parent {
                grads.register::<B>(node.id, grad);
            }
        }
    }
}

impl<B: Backend + SelectiveScanOps, C: CheckpointStrategy> SelectiveScanOps for Autodiff<B, C> {
    fn selective_scan_forward(
        inputs: ScanTensors<FloatTensor<Self>>,
        args: &ScanArgs,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let nodes = [
            inputs.u.node.clone(),
            inputs.delta.node.clone(),
            inputs.a.node.clone(),
            inputs.b.node.clone(),
            inputs.c.node.clone(),
            inputs.d.node.clone(),
            inputs.z.node.clone(),
            inputs.delta_bias.node.clone(),
            inputs.initial_state.node.clone(),
        ];
        let inner = ScanTensors {
            u: inputs.u.primitive,
            delta: inputs.delta.primitive,
            a: inputs.a.primitive,
            b: inputs.b.primitive,
            c: inputs.c.primitive,
            d: inputs.d.primitive,
            z: inputs.z.primitive,
            delta_bias: inputs.delta_bias.primitive,
            initial_state: inputs.initial_state.primitive,
        };
        let (out, last) = B::selective_scan_forward(inner.clone(), args);
        let (out_shape, last_shape) = (out.shape(), last.shape());
        let both = B::float_cat(vec![flat::<B>(out), flat::<B>(last)], 0);
        let both = match ScanBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(
                Saved {
                    inputs: inner,
                    args: args.clone(),
                    out_shape: out_shape.clone(),
                    last_shape: last_shape.clone(),
                },
                both,
            ),
            OpsKind::UnTracked(prep) => prep.finish(both),
        };
        let out_numel = out_shape.num_elements();
        (
            part::<Self>(both.clone(), 0, &out_shape),
            part::<Self>(both, out_numel, &last_shape),
        )
    }

    fn selective_scan_backward(
        _inputs: ScanTensors<FloatTensor<Self>>,
        _grad_out: FloatTensor<Self>,
        _grad_last_state: FloatTensor<Self>,
        _args: &ScanArgs,
    ) -> ScanTensors<FloatTensor<Self>> {
        unimplemented!("second-order gradients of the selective scan are not supported")
    }
}
