//! Running a CPU kernel for another backend by a round trip through host
//! memory: the stop-gap for ops whose GPU kernel is not written yet. Correct
//! on any device; its cost is two transfers of every tensor involved.

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Shape, Tensor, TensorData, TensorMetadata, TensorPrimitive};
use burn_flex::FlexTensor;

/// Copies a backend tensor to a CPU (Flex) tensor.
pub fn to_host<B: Backend>(t: FloatTensor<B>) -> FlexTensor {
    let shape = t.shape();
    let flat = B::float_reshape(t, Shape::new([shape.num_elements()]));
    let data = Tensor::<B, 1>::from_primitive(TensorPrimitive::Float(flat)).into_data();
    let data =
        TensorData::from_bytes_vec(data.bytes.to_vec(), shape.as_slice().to_vec(), data.dtype);
    FlexTensor::from_data(data)
}

/// Copies a CPU (Flex) tensor to `device` of backend `B`.
pub fn from_host<B: Backend>(t: FlexTensor, device: &B::Device) -> FloatTensor<B> {
    B::float_from_data(t.into_data(), device)
}
