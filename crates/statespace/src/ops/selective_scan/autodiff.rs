//! The selective scan under autodiff. Its two outputs are tracked as two
//! nodes over the same inputs (they may differ in dtype: bf16 activations
//! give a bf16 output and a state in the parameters' dtype). Each node's
//! backward runs the backend's hand-written backward pass with a zero
//! cotangent for the other output, so a loss that uses only `out` (the
//! common case) costs one backward pass.

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Shape, TensorMetadata};
use burn_autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};

use super::{ScanArgs, ScanTensors, SelectiveScanOps};

/// Which output a node stands for.
#[derive(Debug, Clone, Copy)]
enum Output {
    Out,
    Last,
}

#[derive(Debug)]
struct ScanBackward(Output);

/// What the backward pass needs: the inputs, what the backend's forward
/// saved for it, the arguments, and the shape and dtype of the other output
/// (for its zero cotangent).
#[derive(Debug, Clone)]
struct Saved<B: Backend> {
    inputs: ScanTensors<FloatTensor<B>>,
    residual: Option<FloatTensor<B>>,
    args: ScanArgs,
    other_shape: Shape,
    other_dtype: DType,
}

impl<B: Backend + SelectiveScanOps> Backward<B, 9> for ScanBackward {
    type State = Saved<B>;

    fn backward(self, ops: Ops<Self::State, 9>, grads: &mut Gradients, _: &mut Checkpointer) {
        let saved = ops.state;
        let grad = grads.consume::<B>(&ops.node);
        let device = B::float_device(&saved.inputs.u);
        let other = B::float_zeros(saved.other_shape, &device, saved.other_dtype.into());
        let (grad_out, grad_last) = match self.0 {
            Output::Out => (grad, other),
            Output::Last => (other, grad),
        };
        let g = B::selective_scan_backward_saved(
            saved.inputs,
            saved.residual,
            grad_out,
            grad_last,
            &saved.args,
        );
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
        // Save for the backward only when some input needs a gradient.
        let tracked = nodes.iter().any(|node| !node.requirement.is_none());
        let (out, last, residual) = if tracked {
            B::selective_scan_forward_saving(inner.clone(), args)
        } else {
            let (out, last) = B::selective_scan_forward(inner.clone(), args);
            (out, last, None)
        };
        let track = |which: Output, value: FloatTensor<B>, other: &FloatTensor<B>| {
            match ScanBackward(which)
                .prepare::<C>(nodes.clone())
                .compute_bound()
                .stateful()
            {
                OpsKind::Tracked(prep) => prep.finish(
                    Saved {
                        inputs: inner.clone(),
                        residual: residual.clone(),
                        args: args.clone(),
                        other_shape: other.shape(),
                        other_dtype: other.dtype(),
                    },
                    value,
                ),
                OpsKind::UnTracked(prep) => prep.finish(value),
            }
        };
        (
            track(Output::Out, out.clone(), &last),
            track(Output::Last, last, &out),
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
