//! cuBLAS SGEMM for the fused GPU decoder's products at large batches with
//! f32 weights: past a few sequences, a matrix–vector loop per row re-reads
//! the weights once per tile of sequences, where a GEMM reads them once.
//! Full f32 (the handle's default math mode, no TF32), on the decoder's
//! stream, with a workspace of its own so that graph capture allocates
//! nothing.

use cudarc::cublas::result as blas;
use cudarc::cublas::sys::{cublasHandle_t, cublasOperation_t, cublasSetWorkspace_v2};

use super::device::{Buffer, Gpu, cuda_error};
use crate::error::Result;

/// Bytes of cuBLAS workspace (NVIDIA's recommendation for Hopper).
const WORKSPACE: usize = 32 << 20;

/// A cuBLAS handle bound to the decoder's stream.
pub(super) struct Blas {
    handle: cublasHandle_t,
    _workspace: Buffer<u8>,
}

impl Blas {
    pub(super) fn new(gpu: &Gpu) -> Result<Self> {
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
        })
    }

    /// Queues y (batch, rows; row stride y_stride) = x (batch, cols; row
    /// stride x_stride) · Wᵀ for W (rows, cols) row-major, all f32 at the
    /// device addresses given.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn gemm(
        &self,
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
        // Column-major: y is (rows × batch) with leading dimension y_stride,
        // W read as (cols × rows) and transposed, x as (cols × batch).
        // SAFETY: the addresses are live f32 buffers of the decoder holding
        // at least rows·cols (W), batch·x_stride (x) and batch·y_stride (y)
        // values.
        unsafe {
            blas::sgemm(
                self.handle,
                cublasOperation_t::CUBLAS_OP_T,
                cublasOperation_t::CUBLAS_OP_N,
                int(rows)?,
                int(batch)?,
                int(cols)?,
                &alpha,
                w as *const f32,
                int(cols)?,
                x as *const f32,
                int(x_stride)?,
                &beta,
                y as *mut f32,
                int(y_stride)?,
            )
        }
        .map_err(|e| cuda_error("cuBLAS SGEMM", e))
    }
}

impl Drop for Blas {
    fn drop(&mut self) {
        // SAFETY: the handle is ours and no longer used.
        let _ = unsafe { blas::destroy_handle(self.handle) };
    }
}
