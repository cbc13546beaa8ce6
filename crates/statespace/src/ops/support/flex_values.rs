//! Reading CPU (Flex) tensors into host vectors, for the CPU kernels of the
//! ops that compute in f32 or f64.

use burn_flex::FlexTensor;
use num_complex::Complex;
use num_traits::Float;

/// The float types the CPU kernels compute in.
pub(crate) trait HostReal:
    Float + num_traits::NumAssign + burn::tensor::Element + bytemuck::Pod + Send + Sync
{
}
impl HostReal for f32 {}
impl HostReal for f64 {}

/// `t`'s elements in row-major order.
pub(crate) fn values<T: HostReal>(t: &FlexTensor) -> Vec<T> {
    t.to_contiguous().storage::<T>().to_vec()
}

/// The complex numbers whose parts are `re` and `im`, elementwise.
pub(crate) fn complex_values<T: HostReal>(re: &FlexTensor, im: &FlexTensor) -> Vec<Complex<T>> {
    values::<T>(re)
        .into_iter()
        .zip(values::<T>(im))
        .map(|(re, im)| Complex::new(re, im))
        .collect()
}
