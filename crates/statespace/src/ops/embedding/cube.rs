//! The embedding gradient on CubeCL devices: one kernel scattering ∂out
//! with f32 atomics ([`super::kernels`]); other storage types take the
//! composite.

use burn::tensor::DType;
use burn::tensor::ops::{FloatTensor, FloatTensorOps, IntTensor};
use burn_cubecl::cubecl::prelude::CubeDim;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::ops::numeric::zeros_client;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};

use super::kernels::embedding_grad;
use super::{EmbeddingOps, embedding_grad_composite};
use crate::ops::support::launch::{LINEAR_UNITS, linear_cubes};

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> EmbeddingOps
    for CubeBackend<R, F, I, BT>
{
    fn embedding_grad(
        grad: FloatTensor<Self>,
        indices: IntTensor<Self>,
        vocab: usize,
    ) -> FloatTensor<Self> {
        if grad.dtype != DType::F32 {
            return embedding_grad_composite::<Self>(grad, indices, vocab);
        }
        let (grad, indices) = (into_contiguous(grad), into_contiguous(indices));
        let dim = grad.meta.shape()[1];
        let n = grad.meta.shape().num_elements();
        // Allocated flat, so packed: the kernel addresses rows as
        // index · dim, and burn pads the rows of 2-D zero tensors.
        let out = zeros_client(
            grad.client.clone(),
            grad.device.clone(),
            [vocab * dim].into(),
            DType::F32,
        );
        let index_dtype = indices.dtype;
        if n > 0 {
            // SAFETY: `grad` is contiguous (N, dim) and `indices` contiguous
            // with N elements; the kernel stops at N·dim and writes only rows
            // below `vocab` of the packed vocab·dim buffer `out`.
            unsafe {
                embedding_grad::launch_unchecked::<R>(
                    &out.client,
                    linear_cubes(n),
                    CubeDim::new_1d(LINEAR_UNITS as u32),
                    grad.into_tensor_arg(),
                    indices.into_tensor_arg(),
                    out.clone().into_tensor_arg(),
                    dim as u32,
                    vocab as u32,
                    index_dtype.into(),
                );
            }
        }
        Self::float_reshape(out, [vocab, dim].into())
    }
}
