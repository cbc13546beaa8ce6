//! Reading a model's CPU tensors in place.

use std::any::Any;

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Tensor};
use burn_flex::FlexTensor;

/// An f32 tensor of the CPU (Flex) backend, read in place: it shares the
/// model's storage, so the fused decoder holds no second copy of the weights.
pub(crate) struct Shared(FlexTensor);

impl Shared {
    /// `None` unless `t` is an f32 tensor of the Flex backend.
    pub(crate) fn of<B: Backend, const D: usize>(t: Tensor<B, D>) -> Option<Self> {
        let primitive: Box<dyn Any> = Box::new(t.into_primitive().tensor());
        let flex = primitive.downcast::<FlexTensor>().ok()?;
        if flex.dtype() != DType::F32 {
            return None;
        }
        // A no-op (shared storage) for parameters, which are contiguous.
        Some(Self(flex.to_contiguous()))
    }

    /// The values in row-major order.
    pub(crate) fn slice(&self) -> &[f32] {
        self.0
            .as_slice()
            .expect("made contiguous f32 in Shared::of")
    }
}

/// A copy of the values of an f32 tensor of the Flex backend (`None` for
/// other backends or dtypes).
pub(crate) fn host_values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Option<Vec<f32>> {
    Shared::of(t).map(|s| s.slice().to_vec())
}
