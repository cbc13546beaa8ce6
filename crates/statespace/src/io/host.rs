//! Moving tensors between host vectors ([`HostTensor`]) and burn tensors.

use burn::tensor::backend::Backend;
use burn::tensor::{DType, Element, Tensor, TensorData};

use super::safetensors::HostTensor;
use crate::error::{Error, Result};

impl<T: Element> HostTensor<T> {
    /// Uploads to `device` as a rank-`D` tensor stored as `dtype`.
    /// Fails with a shape error naming `name` if the rank is not `D`.
    pub fn to_tensor<B: Backend, const D: usize>(
        &self,
        name: &str,
        device: &B::Device,
        dtype: DType,
    ) -> Result<Tensor<B, D>> {
        if self.shape.len() != D {
            return Err(Error::Shape {
                tensor: name.to_string(),
                expected: vec![0; D],
                actual: self.shape.clone(),
            });
        }
        let data = TensorData::new(self.data.clone(), self.shape.clone());
        Ok(Tensor::from_data(data, (device, dtype)))
    }
}

impl HostTensor<f64> {
    /// Downloads `tensor` (any float dtype) as f64.
    pub fn from_tensor<B: Backend, const D: usize>(tensor: &Tensor<B, D>) -> Self {
        let data = tensor.to_data().convert::<f64>();
        Self {
            shape: data.shape.to_vec(),
            data: data.to_vec::<f64>().expect("converted to f64"),
        }
    }
}

/// Builds a rank-`D` float tensor of `dtype` from f64 values (converted to `dtype`).
pub fn tensor_from_f64<B: Backend, const D: usize>(
    values: Vec<f64>,
    shape: [usize; D],
    device: &B::Device,
    dtype: DType,
) -> Tensor<B, D> {
    Tensor::from_data(TensorData::new(values, shape), (device, dtype))
}
