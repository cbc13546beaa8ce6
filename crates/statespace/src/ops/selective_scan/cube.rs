//! The selective scan on CubeCL devices: the CPU kernel through host
//! memory until the GPU kernel lands (see docs/ARCHITECTURE.md).

use burn::tensor::ops::FloatTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use burn_flex::Flex;

use super::{ScanArgs, ScanGrads, ScanTensors, SelectiveScanOps};
use crate::ops::host::{from_host, to_host};

fn to_cpu<B: burn::tensor::backend::Backend>(
    t: ScanTensors<FloatTensor<B>>,
) -> ScanTensors<FloatTensor<Flex>> {
    ScanTensors {
        u: to_host::<B>(t.u),
        delta: to_host::<B>(t.delta),
        a: to_host::<B>(t.a),
        b: to_host::<B>(t.b),
        c: to_host::<B>(t.c),
        d: to_host::<B>(t.d),
        z: to_host::<B>(t.z),
        delta_bias: to_host::<B>(t.delta_bias),
        initial_state: to_host::<B>(t.initial_state),
    }
}

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> SelectiveScanOps
    for CubeBackend<R, F, I, BT>
{
    fn selective_scan_forward(
        inputs: ScanTensors<FloatTensor<Self>>,
        args: &ScanArgs,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        let device = inputs.u.device.clone();
        let (out, last) = Flex::selective_scan_forward(to_cpu::<Self>(inputs), args);
        (
            from_host::<Self>(out, &device),
            from_host::<Self>(last, &device),
        )
    }

    fn selective_scan_backward(
        inputs: ScanTensors<FloatTensor<Self>>,
        grad_out: FloatTensor<Self>,
        grad_last_state: FloatTensor<Self>,
        args: &ScanArgs,
    ) -> ScanGrads<FloatTensor<Self>> {
        let device = inputs.u.device.clone();
        let g = Flex::selective_scan_backward(
            to_cpu::<Self>(inputs),
            to_host::<Self>(grad_out),
            to_host::<Self>(grad_last_state),
            args,
        );
        ScanGrads {
            u: from_host::<Self>(g.u, &device),
            delta: from_host::<Self>(g.delta, &device),
            a: from_host::<Self>(g.a, &device),
            b: from_host::<Self>(g.b, &device),
            c: from_host::<Self>(g.c, &device),
            d: from_host::<Self>(g.d, &device),
            z: from_host::<Self>(g.z, &device),
            delta_bias: from_host::<Self>(g.delta_bias, &device),
            initial_state: from_host::<Self>(g.initial_state, &device),
        }
    }
}
