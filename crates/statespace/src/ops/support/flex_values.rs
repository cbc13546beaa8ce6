//! Reading CPU (Flex) tensors into host vectors, for the CPU kernels of the
//! ops that compute in f32 or f64.

use burn_flex::FlexTensor;
use num_complex::Complex;
use num_traits::Float;

/// The float types the CPU kernels compute in, with the elementwise
/// functions the fused kernels share: in f32 the vectorisable
/// approximations of [`super::fast_math`], in f64 std's and libm's.
pub(crate) trait HostReal:
    Float + num_traits::NumAssign + burn::tensor::Element + bytemuck::Pod + Send + Sync
{
    /// `v` in this type.
    fn constant(v: f64) -> Self;

    /// eˣ (f32: within 2 ulp).
    fn exponential(self) -> Self;

    /// Φ(x), the standard normal distribution function (f32:
    /// [`normal_cdf_f32`](super::fast_math::normal_cdf_f32), which keeps its
    /// relative precision in the negative tail; f64: ½(1 + erf(x/√2)) with
    /// libm's erf, the composite's formula and bits).
    fn normal_cdf(self) -> Self;

    /// σ(x) = 1/(1 + e^{−x}).
    fn sigmoid(self) -> Self {
        Self::one() / (Self::one() + (-self).exponential())
    }
}

impl HostReal for f32 {
    fn constant(v: f64) -> Self {
        v as f32
    }

    #[inline(always)]
    fn exponential(self) -> Self {
        super::fast_math::exp_f32(self)
    }

    #[inline(always)]
    fn normal_cdf(self) -> Self {
        super::fast_math::normal_cdf_f32(self)
    }
}

impl HostReal for f64 {
    fn constant(v: f64) -> Self {
        v
    }

    fn exponential(self) -> Self {
        self.exp()
    }

    fn normal_cdf(self) -> Self {
        (libm::erf(self * std::f64::consts::FRAC_1_SQRT_2) + 1.0) * 0.5
    }
}

/// `t` packed in row-major order over its whole buffer, so that
/// `storage::<T>()` reads exactly its elements: `t` itself (its buffer
/// shared, nothing copied) when it already is, else a packed copy.
pub(crate) fn packed(t: &FlexTensor) -> FlexTensor {
    t.to_contiguous()
}

/// `t`'s elements in row-major order, as `T` (its storage type).
pub(crate) fn values<T: burn::tensor::Element + bytemuck::Pod>(t: &FlexTensor) -> Vec<T> {
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
