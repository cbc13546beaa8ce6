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

    /// (e^z − 1)/z, 1 at z = 0: ZOH's input coefficient over the step.
    ///
    /// Written directly, e^z − 1 cancels for small |z| (relative error
    /// ≈ ε/|z|, and its derivative ≈ ε/|z|², which put f32 gradients of S5's
    /// eigenvalues 2e-3 off at Δ·|Λ| ≈ 1e-4). Inside |z| < 0.1 it is the
    /// Taylor series Σ_{k<8} z^k/(k+1)! instead (truncation < 1e-13
    /// relative); each branch sees a harmless stand-in where the other is
    /// taken, so neither produces a NaN gradient.
    pub fn exprel(&self) -> Self {
        const RADIUS_SQR: f64 = 0.01;
        const TERMS: usize = 8;
        let small = self.norm_sqr().lower_elem(RADIUS_SQR);
        let inside = Self::new(
            self.re.clone().mask_fill(small.clone().bool_not(), 0.0),
            self.im.clone().mask_fill(small.clone().bool_not(), 0.0),
        );
        let outside = Self::new(
            self.re.clone().mask_fill(small.clone(), 1.0),
            self.im.clone().mask_fill(small.clone(), 0.0),
        );
        // Horner from the highest term: c_k = 1/(k+1)!.
        let factorial = |n: usize| (1..=n).map(|i| i as f64).product::<f64>();
        let top = self.re.zeros_like().add_scalar(1.0 / factorial(TERMS));
        let mut series = Self::new(top, self.im.zeros_like());
        for k in (0..TERMS - 1).rev() {
            series = series.mul(&inside).add_scalar(1.0 / factorial(k + 1));
        }
        let direct = outside.exp().add_scalar(-1.0).div(&outside);
        Self::new(
            direct.re.mask_where(small.clone(), series.re),
            direct.im.mask_where(small, series.im),
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

#[cfg(test)]
mod tests {
    use burn::backend::Autodiff;
    use burn::tensor::{Tensor, TensorData};
    use burn_flex::Flex;

    use super::ComplexTensor;

    type B = Autodiff<Flex>;

    /// Σ_{k<40} z^k/(k+1)! and its derivative Σ_{k≥1} k z^{k−1}/(k+1)!, in f64.
    fn exprel_and_slope(z: (f64, f64)) -> ((f64, f64), (f64, f64)) {
        let mul = |a: (f64, f64), b: (f64, f64)| (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0);
        let (mut value, mut slope) = ((0.0, 0.0), (0.0, 0.0));
        let (mut power, mut previous) = ((1.0, 0.0), (0.0, 0.0));
        let mut factorial = 1.0;
        for k in 0..40 {
            factorial *= (k + 1) as f64;
            value = (value.0 + power.0 / factorial, value.1 + power.1 / factorial);
            slope = (
                slope.0 + k as f64 * previous.0 / factorial,
                slope.1 + k as f64 * previous.1 / factorial,
            );
            previous = power;
            power = mul(power, z);
        }
        (value, slope)
    }

    #[test]
    fn exprel_is_accurate_in_f32_near_zero_and_across_its_switch() {
        let points = [
            (1e-4, 2e-4),
            (-3e-5, 0.0),
            (0.0, 0.0),
            (0.0999, 0.0),
            (0.1001, 0.0),
            (-0.5, 2.0),
        ];
        let re = Tensor::<B, 1>::from_data(
            TensorData::new(points.iter().map(|p| p.0 as f32).collect(), [points.len()]),
            &Default::default(),
        )
        .require_grad();
        let im = Tensor::<B, 1>::from_data(
            TensorData::new(points.iter().map(|p| p.1 as f32).collect(), [points.len()]),
            &Default::default(),
        );
        let value = ComplexTensor::new(re.clone(), im).exprel();
        let grads = value.re.clone().sum().backward();
        let got: Vec<f32> = value.re.into_data().to_vec().unwrap();
        let slope: Vec<f32> = re.grad(&grads).unwrap().into_data().to_vec().unwrap();
        for (i, &z) in points.iter().enumerate() {
            let (want, want_slope) = exprel_and_slope((z.0 as f32 as f64, z.1 as f32 as f64));
            assert!(
                (got[i] as f64 - want.0).abs() <= 1e-6 * want.0.abs().max(1.0),
                "{z:?}"
            );
            // ∂ Re f / ∂ Re z = Re f′ (f is holomorphic).
            let err = (slope[i] as f64 - want_slope.0).abs();
            assert!(err <= 1e-5, "{z:?}: slope {} vs {}", slope[i], want_slope.0);
        }
    }
}
