//! cuBLAS GEMMs for the fused GPU decoder's products at large batches:
//! past a few sequences, a matrix–vector loop per row re-reads the weights
//! once per tile of sequences, where a GEMM reads them once.
//!
//! f32 weights multiply f32 activations in full f32 (the handle's default
//! math mode, no TF32). 16-bit weights multiply activations rounded to the
//! same format on tensor cores, accumulating in f32 (see
//! [`super::HalfProducts::TensorCores`]). Everything runs on the decoder's
//! stream, with a workspace of its own so that graph capture allocates
//! nothing.

use cudarc::cublas::result as blas;
use cudarc::cublas::sys::{
    cublasComputeType_t, cublasGemmAlgo_t, cublasHandle_t, cublasOperation_t,
    cublasSetWorkspace_v2, cudaDataType,
};

use super::device::{Buffer, Gpu, cuda_error};
use crate::decode::WeightFormat;
use crate::error::Result;

/// Bytes of cuBLAS workspace (NVIDIA's recommendation for Hopper).
const WORKSPACE: usize = 32 << 20;

/// A cuBLAS handle bound to the decoder's stream.
pub(super) struct Blas {
    handle: cublasHandle_t,
    _workspace: Buffer<u8>,
    /// A product's input rounded to 16 bits, (batch, cols) dense.
    pub(super) staging: Buffer<u16>,
}

/// The operands' element type in cuBLAS's terms.
fn data_type(format: WeightFormat) -> cudaDataType {
    match format {
        WeightFormat::F32 => cudaDataType::CUDA_R_32F,
        WeightFormat::Bf16 => cudaDataType::CUDA_R_16BF,
        WeightFormat::F16 => cudaDataType::CUDA_R_16F,
    }
}

impl Blas {
    /// A handle on `gpu`'s stream and room for `staging` 16-bit values.
    pub(super) fn new(gpu: &Gpu, staging: usize) -> Result<Self> {
        let handle = blas::create_handle().map_err(|e| cuda_error("cannot open cuBLAS", e))?;
        let workspace = gpu.zeros::<u8>(WORKSPACE)?;
        // SAFETY: the handle was just created; the stream and the workspace
        // live as long as the decoder that owns this handle.
        unsafe {
            blas::set_stream(handle, gpu.cu_stream() as _)
                .map_err(|e| cuda_error("cannot bind cuBLAS to the stream", e))?;
            cublasSetWorkspace_v2(handle, workspace.address() as *mut _, WORKSPACE)
                .result()
                .map_err(|e| cuda_error("cannot give cuBLAS its workspace", e))?;
        }
        Ok(Self {
            handle,
            _workspace: workspace,
            staging: gpu.zeros(staging.max(1))?,
        })
    }

    /// Queues y (batch, rows; row stride y_stride, f32) = x (batch, cols;
    /// row stride x_stride) · Wᵀ for W (rows, cols) row-major, W and x both
    /// stored as `format`, accumulating in f32.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn gemm(
        &self,
        format: WeightFormat,
        w: u64,
        x: u64,
        y: u64,
        rows: usize,
        cols: usize,
        batch: usize,
        x_stride: usize,
        y_stride: usize,
    ) -> Result<()> {
        let int = |n: usize| i32::try_from(n).map_err(|_| cuda_error("a size past 2³¹", n));
        let (alpha, beta) = (1.0f32, 0.0f32);
        let operands = data_type(format);
        // Column-major: y is (rows × batch) with leading dimension y_stride,
        // W read as (cols × rows) and transposed, x as (cols × batch).
        // SAFETY: the addresses are live buffers of the decoder holding at
        // least rows·cols (W) and batch·x_stride (x) values of `format` and
        // batch·y_stride f32 values (y); alpha and beta are f32 as the f32
        // compute type requires.
        unsafe {
            blas::gemm_ex(
                self.handle,
                cublasOperation_t::CUBLAS_OP_T,
                cublasOperation_t::CUBLAS_OP_N,
                int(rows)?,
                int(batch)?,
                int(cols)?,
                (&alpha as *const f32).cast(),
                w as *const _,
                operands,
                int(cols)?,
                x as *const _,
                operands,
                int(x_stride)?,
                (&beta as *const f32).cast(),
                y as *mut _,
                cudaDataType::CUDA_R_32F,
                int(y_stride)?,
                cublasComputeType_t::CUBLAS_COMPUTE_32F,
                cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        }
        .map_err(|e| cuda_error("cuBLAS GEMM", e))
    }
}

impl Drop for Blas {
    fn drop(&mut self) {
        // SAFETY: the handle is ours and no longer used.
        let _ = unsafe { blas::destroy_handle(self.handle) };
    }
}
