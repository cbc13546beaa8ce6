//! SSD on CubeCL devices: the forward is the chunked composite (matmuls on
//! the device); the backward runs the CPU kernel through host memory until
//! the GPU kernel lands (see docs/ARCHITECTURE.md).

use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use burn_flex::Flex;

use super::{Ssd, SsdArgs, SsdOps, SsdTensors, ssd_chunked};
use crate::ops::host::{from_host, to_host};

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> SsdOps
    for CubeBackend<R, F, I, BT>
{
    fn ssd_prefers_chunked() -> bool {
        true
    }

    fn ssd_forward(
        inputs: SsdTensors<FloatTensor<Self>>,
        args: &SsdArgs,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        fn wrap<B: burn::tensor::backend::Backend, const D: usize>(
            t: FloatTensor<B>,
        ) -> Tensor<B, D> {
            Tensor::from_primitive(TensorPrimitive::Float(t))
        }
        let s = Ssd::<Self> {
            x: wrap(inputs.x),
            a: wrap(inputs.a),
            b: wrap(inputs.b),
            c: wrap(inputs.c),
            chunk_size: args.chunk_size,
            initial_state: args.has_initial_state.then(|| wrap(inputs.initial_state)),
            starts: args.starts.as_deref().cloned(),
        };
        let (y, last) = ssd_chunked(s).expect("validated by ssd()");
        (y.into_primitive().tensor(), last.into_primitive().tensor())
    }

    fn ssd_backward(
        inputs: SsdTensors<FloatTensor<Self>>,
        grad_y: FloatTensor<Self>,
        grad_final: FloatTensor<Self>,
        args: &SsdArgs,
    ) -> SsdTensors<FloatTensor<Self>> {
        let device = inputs.x.device.clone();
        let host = SsdTensors {
            x: to_host::<Self>(inputs.x),
            a: to_host::<Self>(inputs.a),
            b: to_host::<Self>(inputs.b),
            c: to_host::<Self>(inputs.c),
            initial_state: to_host::<Self>(inputs.initial_state),
        };
        let g = Flex::ssd_backward(
            host,
            to_host::<Self>(grad_y),
            to_host::<Self>(grad_final),
            args,
        );
        SsdTensors {
            x: from_host::<Self>(g.x, &device),
            a: from_host::<Self>(g.a, &device),
            b: from_host::<Self>(g.b, &device),
            c: from_host::<Self>(g.c, &device),
            initial_state: from_host::<Self>(g.initial_state, &device),
        }
    }
}
