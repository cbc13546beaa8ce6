//! Moving tensors between host vectors ([`HostTensor`]) and burn tensors.

use burn::tensor::{DType, Device, Element, Tensor, TensorCreationOptions, TensorData};

use super::safetensors::HostTensor;
use crate::error::{Error, Result};

impl<T: Element> HostTensor<T> {
    /// Uploads to `device` as a rank-`D` tensor stored as `dtype`.
    /// Fails with a shape error naming `name` if the rank is not `D`.
    pub fn to_tensor<const D: usize>(
        &self,
        name: &str,
        device: &Device,
        dtype: DType,
    ) -> Result<Tensor<D>> {
        if self.shape.len() != D {
            return Err(Error::Shape {
                tensor: name.to_string(),
                expected: vec![0; D],
                actual: self.shape.clone(),
            });
        }
        let data = TensorData::new(self.data.clone(), self.shape.clone());
        Ok(Tensor::from_data(
            data,
            TensorCreationOptions::new(device.clone()).with_dtype(dtype),
        ))
    }
}

impl HostTensor<f64> {
    /// Downloads `tensor` (any float dtype) as f64.
    pub fn from_tensor<const D: usize>(tensor: &Tensor<D>) -> Self {
        let data = tensor.to_data_as::<f64>();
        Self {
            shape: data.shape().to_vec(),
            data: data
                .try_to_vec::<f64>()
                .expect("to_data_as yields f64 data"),
        }
    }
}

/// Builds a rank-`D` float tensor of `dtype` from f64 values (converted to `dtype`).
pub fn tensor_from_f64<const D: usize>(
    values: Vec<f64>,
    shape: [usize; D],
    device: &Device,
    dtype: DType,
) -> Tensor<D> {
    Tensor::from_data(
        TensorData::new(values, shape),
        TensorCreationOptions::new(device.clone()).with_dtype(dtype),
    )
}
