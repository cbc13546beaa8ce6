//! Matrix products at the full precision of their storage type, and the
//! affine bias after them (with a backward that sums over rows without
//! burn's one-cube reduction on GPUs).
//!
//! burn's CubeCL matmul stages f32 operands as TF32 on tensor cores (10-bit
//! mantissa), which puts f32 layers 1e-4 … 1e-3 away from their reference.
//! Like PyTorch (whose f32 matmul does not use TF32 by default), statespace
//! keeps f32 exact: its layers multiply through [`matmul`], which on CubeCL
//! devices runs an f32 routine without tensor cores for f32 operands and the
//! tensor-core routine for 16-bit ones. [`allow_tf32`] opts in to TF32 for
//! f32 products on GPUs, as PyTorch's `allow_tf32` does (`precision.rs`).
//! On the CPU, 2-D f32 and f64 products call the `gemm` crate into unzeroed
//! outputs (`cpu.rs`), others burn's matmul.

mod autodiff;
mod complex;
mod cpu;
#[cfg(feature = "cuda")]
mod cube;
pub(crate) mod precision;

use burn::tensor::TensorMetadata;
use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};

use crate::error::Result;
use crate::ops::support::check::{self, arg};

pub use complex::complex_matmul;
pub use precision::{Tf32Guard, allow_tf32, tf32_allowed};

/// Backends with a full-precision matmul.
pub trait MatmulOps: Backend {
    /// lhs (…, M, K) × rhs (…, K, N) → (…, M, N), leading dimensions
    /// broadcast as in burn's matmul.
    fn exact_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        Self::float_matmul(lhs, rhs)
    }

    /// y (rows, cols) + b (cols) on every row. Differentiable: ∂b is
    /// [`MatmulOps::column_sum`] of ∂y.
    fn add_bias(y: FloatTensor<Self>, b: FloatTensor<Self>) -> FloatTensor<Self> {
        let cols = b.shape()[0];
        Self::float_add(y, Self::float_reshape(b, [1, cols].into()))
    }

    /// Σ over the rows of x (rows, cols) → (cols).
    fn column_sum(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let cols = x.shape()[1];
        Self::float_reshape(Self::float_sum_dim(x, 0), [cols].into())
    }
}

/// y (rows, cols) + b (cols) on every row, differentiable in both (see
/// [`MatmulOps::add_bias`]). Fails, naming the argument, unless b has
/// y's width, both of one float dtype on one device.
pub fn add_bias<B: MatmulOps>(y: Tensor<B, 2>, b: Tensor<B, 1>) -> Result<Tensor<B, 2>> {
    const OP: &str = "add_bias";
    check::shape(OP, "b (cols)", &[y.dims()[1]], &b.dims())?;
    check::floats_on_one_device(OP, &[arg("y", &y), arg("b", &b)])?;
    let out = B::add_bias(y.into_primitive().tensor(), b.into_primitive().tensor());
    Ok(Tensor::from_primitive(TensorPrimitive::Float(out)))
}

/// x (rows, cols) times w (cols), column by column. w is spread over the
/// rows by a product with a column of ones, so autodiff's gradient of w is
/// a product too, where a (1, cols) operand broadcast over the rows would
/// have its gradient summed by burn's reduction along the leading axis
/// (on CubeCL, a few cubes for all rows). Fails, naming the argument,
/// unless w has x's width, both of one float dtype on one device.
pub fn scale_columns<B: MatmulOps>(x: Tensor<B, 2>, w: Tensor<B, 1>) -> Result<Tensor<B, 2>> {
    const OP: &str = "scale_columns";
    let [rows, cols] = x.dims();
    check::shape(OP, "w (cols)", &[cols], &w.dims())?;
    check::floats_on_one_device(OP, &[arg("x", &x), arg("w", &w)])?;
    let ones = Tensor::<B, 2>::ones([rows, 1], (&x.device(), x.dtype()));
    Ok(x * matmul(ones, w.reshape([1, cols]))?)
}

/// lhs (…, M, K) × rhs (…, K, N) → (…, M, N) at the storage type's full
/// precision (see the module doc), the leading axes equal or 1 (broadcast).
/// Differentiable in both arguments. Fails, naming the argument, unless
/// the shapes are these (rank ≥ 2), both of one float dtype on one device.
pub fn matmul<B: MatmulOps, const D: usize>(
    lhs: Tensor<B, D>,
    rhs: Tensor<B, D>,
) -> Result<Tensor<B, D>> {
    validate_matmul(&lhs, &rhs)?;
    let out = B::exact_matmul(lhs.into_primitive().tensor(), rhs.into_primitive().tensor());
    Ok(Tensor::from_primitive(TensorPrimitive::Float(out)))
}

/// The input checks of [`matmul`].
fn validate_matmul<B: Backend, const D: usize>(
    lhs: &Tensor<B, D>,
    rhs: &Tensor<B, D>,
) -> Result<()> {
    const OP: &str = "matmul";
    let (l, r) = (lhs.dims(), rhs.dims());
    check::min_rank(OP, "lhs (…, M, K)", 2, &l)?;
    check::min_rank(OP, "rhs (…, K, N)", 2, &r)?;
    // The rhs lhs would take: its batch axes broadcast, K from lhs.
    let mut expected = r;
    for (e, (&a, &b)) in expected.iter_mut().zip(l.iter().zip(&r)).take(D - 2) {
        if a != b && a != 1 && b != 1 {
            *e = a;
        }
    }
    expected[D - 2] = l[D - 1];
    check::shape(OP, "rhs (…, K, N)", &expected, &r)?;
    check::floats_on_one_device(OP, &[arg("lhs", lhs), arg("rhs", rhs)])
}

#[cfg(test)]
mod tests {
    use super::scale_columns;
    use burn::backend::Autodiff;
    use burn::tensor::Tensor;
    use burn_flex::Flex;

    /// y = x·w per column; ∂x = ∂y·w and ∂w = Σ_rows ∂y·x.
    #[test]
    fn scale_columns_and_its_gradients() {
        let device = Default::default();
        let x = Tensor::<Autodiff<Flex>, 2>::from_floats(
            [[1.0, 2.0], [3.0, -4.0], [0.5, 6.0]],
            &device,
        )
        .require_grad();
        let w = Tensor::<Autodiff<Flex>, 1>::from_floats([2.0, -0.5], &device).require_grad();
        let g = Tensor::<Autodiff<Flex>, 2>::from_floats(
            [[1.0, 0.0], [2.0, 1.0], [-1.0, 3.0]],
            &device,
        );
        let y = scale_columns(x.clone(), w.clone()).unwrap();
        let values = |t: Tensor<Flex, 2>| t.into_data().to_vec::<f32>().unwrap();
        assert_eq!(values(y.clone().inner()), [2.0, -1.0, 6.0, 2.0, 1.0, -3.0]);
        let grads = (y * g).sum().backward();
        assert_eq!(
            values(x.grad(&grads).unwrap()),
            [2.0, 0.0, 4.0, -0.5, -2.0, -1.5]
        );
        let dw = w.grad(&grads).unwrap().into_data().to_vec::<f32>().unwrap();
        assert_eq!(dw, [1.0 + 6.0 - 0.5, 0.0 - 4.0 + 18.0]);
    }
}
