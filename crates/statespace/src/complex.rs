//! Complex tensors as (real, imaginary) pairs of real tensors.
//!
//! burn has no complex dtype, so complex arithmetic is spelled out on the
//! two parts; every operation is differentiable through the real ops it uses.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// A complex tensor z = re + i·im; both parts have the same shape.
#[derive(Debug, Clone)]
pub struct ComplexTensor<B: Backend, const D: usize> {
    /// Real part.
    pub re: Tensor<B, D>,
    /// Imaginary part.
    pub im: Tensor<B, D>,
}

impl<B: Backend, const D: usize> ComplexTensor<B, D> {
    /// z = re + i·im.
    pub fn new(re: Tensor<B, D>, im: Tensor<B, D>) -> Self {
        Self { re, im }
    }

    /// A real tensor viewed as complex (zero imaginary part).
    pub fn from_real(re: Tensor<B, D>) -> Self {
        let im = re.zeros_like();
        Self { re, im }
    }

    /// Applies the same shape operation (reshape, slice, unsqueeze, …) to both parts.
    pub fn map<const E: usize>(
        &self,
        f: impl Fn(Tensor<B, D>) -> Tensor<B, E>,
    ) -> ComplexTensor<B, E> {
        ComplexTensor {
            re: f(self.re.clone()),
            im: f(self.im.clone()),
        }
    }

    /// Dimensions of either part.
    pub fn dims(&self) -> [usize; D] {
        self.re.dims()
    }

    /// z + w.
    pub fn add(&self, w: &Self) -> Self {
        Self::new(
            self.re.clone() + w.re.clone(),
            self.im.clone() + w.im.clone(),
        )
    }

    /// z − w.
    pub fn sub(&self, w: &Self) -> Self {
        Self::new(
            self.re.clone() - w.re.clone(),
            self.im.clone() - w.im.clone(),
        )
    }

    /// z·w = (ac − bd) + i(ad + bc).
    pub fn mul(&self, w: &Self) -> Self {
        let (a, b) = (&self.re, &self.im);
        let (c, d) = (&w.re, &w.im);
        Self::new(
            a.clone() * c.clone() - b.clone() * d.clone(),
            a.clone() * d.clone() + b.clone() * c.clone(),
        )
    }

    /// z / w = z·conj(w) / |w|².
    pub fn div(&self, w: &Self) -> Self {
        let den = w.norm_sqr();
        let num = self.mul(&w.conj());
        Self::new(num.re / den.clone(), num.im / den)
    }

    /// 1 / z.
    pub fn recip(&self) -> Self {
        let den = self.norm_sqr();
        Self::new(self.re.clone() / den.clone(), self.im.clone().neg() / den)
    }

    /// z·r for a real tensor r (broadcast like the real op).
    pub fn mul_real(&self, r: &Tensor<B, D>) -> Self {
        Self::new(self.re.clone() * r.clone(), self.im.clone() * r.clone())
    }

    /// z·s for a real scalar s.
    pub fn mul_scalar(&self, s: f64) -> Self {
        Self::new(self.re.clone().mul_scalar(s), self.im.clone().mul_scalar(s))
    }

    /// z + s for a real scalar s.
    pub fn add_scalar(&self, s: f64) -> Self {
        Self::new(self.re.clone().add_scalar(s), self.im.clone())
    }

    /// −z.
    pub fn neg(&self) -> Self {
        Self::new(self.re.clone().neg(), self.im.clone().neg())
    }

    /// conj(z).
    pub fn conj(&self) -> Self {
        Self::new(self.re.clone(), self.im.clone().neg())
    }

    /// |z|² as a real tensor.
    pub fn norm_sqr(&self) -> Tensor<B, D> {
        self.re.clone().square() + self.im.clone().square()
    }

    /// exp(z) = e^re (cos im + i sin im).
    pub fn exp(&self) -> Self {
        let mag = self.re.clone().exp();
        Self::new(
            mag.clone() * self.im.clone().cos(),
            mag * self.im.clone().sin(),
        )
    }

    /// Principal logarithm: ln|z| + i·arg z, arg in (−π, π].
    pub fn log(&self) -> Self {
        Self::new(
            self.norm_sqr().log().mul_scalar(0.5),
            self.im.clone().atan2(self.re.clone()),
        )
    }

    /// Sum over dimension `dim`, kept with size 1.
    pub fn sum_dim(&self, dim: usize) -> Self {
        Self::new(self.re.clone().sum_dim(dim), self.im.clone().sum_dim(dim))
    }
}
