//! Complex matrix products at full precision, as four real products through
//! [`super::matmul`].

use super::{MatmulOps, matmul};
use crate::complex::ComplexTensor;
use crate::error::Result;

/// Batched complex matrix product (H, M, K) @ (H, K, N) → (H, M, N):
/// (a.re·b.re − a.im·b.im) + i·(a.re·b.im + a.im·b.re).
/// Fails as [`matmul`] does.
pub fn complex_matmul<B: MatmulOps>(
    a: &ComplexTensor<B, 3>,
    b: &ComplexTensor<B, 3>,
) -> Result<ComplexTensor<B, 3>> {
    Ok(ComplexTensor::new(
        matmul(a.re.clone(), b.re.clone())? - matmul(a.im.clone(), b.im.clone())?,
        matmul(a.re.clone(), b.im.clone())? + matmul(a.im.clone(), b.re.clone())?,
    ))
}
