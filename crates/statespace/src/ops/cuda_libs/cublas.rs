//! The matmul through cuBLAS: f32 by `cublasSgemmStridedBatched` (full
//! f32: the handle's default math mode uses no TF32), or when the caller
//! allows TF32 by `cublasGemmStridedBatchedEx` with the compute type
//! `CUBLAS_COMPUTE_32F_FAST_TF32`; bf16 and f16 by
//! `cublasGemmStridedBatchedEx` on the tensor cores with f32 accumulation
//! and the output rounded to the operands' type (what PyTorch runs under
//! autocast). The handle's default math mode lets cuBLAS add the partial
//! sums of a split reduction in the 16-bit type, as PyTorch allows by
//! default (`allow_bf16_reduced_precision_reduction`).
//!
//! burn's tensors are row-major; cuBLAS is column-major. A row-major
//! (M, N) product C = A·B is the column-major Cᵀ = Bᵀ·Aᵀ, so cuBLAS gets the
//! operands swapped. A row-major operand is, read column-major, its own
//! transpose; a transposed view (strides (1, ld)) is read as it is and
//! flagged for transposition instead of being copied.

use burn::tensor::DType;
use burn_cubecl::CubeRuntime;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use cudarc::cublas::result as blas;
use cudarc::cublas::sys::{cublasComputeType_t, cublasGemmAlgo_t, cublasOperation_t, cudaDataType};

use super::{as_cuda, enabled, run_into};
use crate::ops::support::launch::empty_packed;

/// lhs (…, M, K) × rhs (…, K, N) → (…, M, N) for CUDA tensors of one type,
/// f32, bf16 or f16, whose leading dimensions either match the output's or
/// are all 1; the output in the operands' type; f32 operands on TF32
/// tensor cores where `tf32`, else in full f32. `None`
/// where cuBLAS cannot take the operands (other dtypes or runtimes, a
/// broadcast it cannot express, the library missing or failing) or the
/// product is too small to gain ([`MIN_MULTIPLY_ADDS`]) and its reduction
/// short ([`LONG_REDUCTION`]), so the caller runs its own routine.
pub fn matmul<R: CubeRuntime>(
    lhs: &CubeTensor<R>,
    rhs: &CubeTensor<R>,
    tf32: bool,
) -> Option<CubeTensor<R>> {
    // The operands' cuBLAS type and compute type for `GemmEx`; `None` for
    // full f32 (SGEMM).
    let ex = match (lhs.dtype, rhs.dtype) {
        (DType::F32, DType::F32) if tf32 => Some((
            cudaDataType::CUDA_R_32F,
            cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_TF32,
        )),
        (DType::F32, DType::F32) => None,
        (DType::BF16, DType::BF16) => Some((
            cudaDataType::CUDA_R_16BF,
            cublasComputeType_t::CUBLAS_COMPUTE_32F,
        )),
        (DType::F16, DType::F16) => Some((
            cudaDataType::CUDA_R_16F,
            cublasComputeType_t::CUBLAS_COMPUTE_32F,
        )),
        _ => return None,
    };
    if !available() {
        return None;
    }
    as_cuda(lhs)?;
    let lhs_dims = lhs.meta.shape().as_slice();
    let rhs_dims = rhs.meta.shape().as_slice();
    let rank = lhs_dims.len();
    if rank < 2 || rhs_dims.len() != rank {
        return None;
    }
    let (m, k, n) = (lhs_dims[rank - 2], lhs_dims[rank - 1], rhs_dims[rank - 1]);
    if rhs_dims[rank - 2] != k || m == 0 || n == 0 || k == 0 {
        return None;
    }
    let lead: Vec<usize> = (0..rank - 2)
        .map(|d| lhs_dims[d].max(rhs_dims[d]))
        .collect();
    let batch: usize = lead.iter().product();
    if batch * m * n * k < MIN_MULTIPLY_ADDS && k < LONG_REDUCTION {
        return None;
    }
    // Operands whose strides cuBLAS cannot read (permuted batches) are
    // copied to row-major first.
    let (lhs_copy, rhs_copy);
    let (lhs, a) = match Operand::of(lhs, &lead, m, k) {
        Some(a) => (lhs, a),
        None => {
            lhs_copy = into_contiguous(lhs.clone());
            (&lhs_copy, Operand::of(&lhs_copy, &lead, m, k)?)
        }
    };
    let (rhs, b) = match Operand::of(rhs, &lead, k, n) {
        Some(b) => (rhs, b),
        None => {
            rhs_copy = into_contiguous(rhs.clone());
            (&rhs_copy, Operand::of(&rhs_copy, &lead, k, n)?)
        }
    };
    let fits = |x: usize| i32::try_from(x).is_ok();
    if ![m, n, k, batch, a.ld, b.ld].into_iter().all(fits) {
        return None;
    }
    let mut out_dims = lead;
    out_dims.extend([m, n]);
    let out = empty_packed(lhs, &out_dims, lhs.dtype);
    let [m, n, k, batch, lda, ldb] = [m, n, k, batch, a.ld, b.ld].map(|x| x as i32);
    let stride_out = (m as i64) * (n as i64);
    run_into(&[lhs, rhs], out, "cuBLAS matmul", |device, stream, ptrs| {
        let handle = device.blas_handle()?;
        let (alpha, beta) = (1.0f32, 0.0f32);
        // SAFETY: the addresses are live buffers of the operands' type
        // holding them in the layouts `Operand` read off their strides, the
        // output holds batch·M·N values of that type, and alpha and beta are
        // f32 as SGEMM and the f32 compute types take them.
        unsafe {
            blas::set_stream(handle, stream as _).map_err(|e| e.to_string())?;
            match ex {
                None => blas::sgemm_strided_batched(
                    handle,
                    b.op,
                    a.op,
                    n,
                    m,
                    k,
                    &alpha,
                    ptrs[1] as *const f32,
                    ldb,
                    b.batch_stride,
                    ptrs[0] as *const f32,
                    lda,
                    a.batch_stride,
                    &beta,
                    ptrs[2] as *mut f32,
                    n,
                    stride_out,
                    batch,
                ),
                Some((dtype, compute)) => blas::gemm_strided_batched_ex(
                    handle,
                    b.op,
                    a.op,
                    n,
                    m,
                    k,
                    (&alpha as *const f32).cast(),
                    ptrs[1] as *const _,
                    dtype,
                    ldb,
                    b.batch_stride,
                    ptrs[0] as *const _,
                    dtype,
                    lda,
                    a.batch_stride,
                    (&beta as *const f32).cast(),
                    ptrs[2] as *mut _,
                    dtype,
                    n,
                    stride_out,
                    batch,
                    compute,
                    cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
                ),
            }
            .map_err(|e| e.to_string())
        }
    })
}

/// Products below this many multiply-adds stay on cubek's routine. Set
/// while every library call waited on the host for CubeCL's stream and its
/// own: that wait cost the overlap of host and device work (decoding
/// mamba-130m at batch 64 took 45.6 ms per step with every f32 product on
/// cuBLAS against 31.7 … 32.1 ms on cubek, H200). At 2²⁸ every product of a
/// mamba-130m training step goes to cuBLAS (the smallest, dt_proj's, is
/// 6·10⁸) and of a decoding step only the LM head, from batch 7 on. Calls
/// now run on CubeCL's stream without waits; the threshold is not
/// re-measured since.
const MIN_MULTIPLY_ADDS: usize = 1 << 28;

/// Products reducing over this many terms or more go to cuBLAS whatever
/// their size. cubek's routine tiles the output only, so a small output
/// over a long reduction runs on a few cubes, each walking all of it: in
/// the selective-copying Mamba's step (64 × 4,112 tokens) a cubek product
/// on a grid of one cube took 24.6 ms per launch, 79 % of the step's GPU
/// time (H200, Nsight Compute, 2026-12-05) — the shape of dt_proj's weight
/// gradient, (4 × 128) over 263,168 rows, 1.3·10⁸ multiply-adds, under
/// [`MIN_MULTIPLY_ADDS`]. cuBLAS splits such reductions.
const LONG_REDUCTION: usize = 1 << 12;

/// Whether cuBLAS can be used: enabled and its library found.
fn available() -> bool {
    use std::sync::OnceLock;
    static PRESENT: OnceLock<bool> = OnceLock::new();
    // SAFETY: only probes whether the shared library loads.
    enabled() && *PRESENT.get_or_init(|| unsafe { cudarc::cublas::sys::is_culib_present() })
}

/// One operand as cuBLAS reads it: the operation that turns its
/// column-major reading into the needed transposed factor, its leading
/// dimension and the stride between batch entries (0 when broadcast).
struct Operand {
    op: cublasOperation_t,
    ld: usize,
    batch_stride: i64,
}

impl Operand {
    /// The (rows, cols) matrices of `t` (…, rows, cols) against the
    /// output's leading dimensions `lead`; `None` if the layout or the
    /// broadcast pattern is not one strided batch.
    fn of<R: CubeRuntime>(
        t: &CubeTensor<R>,
        lead: &[usize],
        rows: usize,
        cols: usize,
    ) -> Option<Self> {
        let dims = t.meta.shape().as_slice();
        let strides: &[usize] = t.meta.strides();
        let rank = dims.len();
        let (s_row, s_col) = (strides[rank - 2], strides[rank - 1]);
        // Row-major rows (ld = row stride) read column-major are the
        // transpose that the swapped product needs: no operation.
        let (op, ld) = if (cols == 1 || s_col == 1) && (rows == 1 || s_row >= cols) {
            let ld = if rows == 1 { cols } else { s_row };
            (cublasOperation_t::CUBLAS_OP_N, ld)
        } else if (rows == 1 || s_row == 1) && (cols == 1 || s_col >= rows) {
            let ld = if cols == 1 { rows } else { s_col };
            (cublasOperation_t::CUBLAS_OP_T, ld)
        } else {
            return None;
        };
        let batch_stride = batch_stride(&dims[..rank - 2], &strides[..rank - 2], lead)?;
        Some(Self {
            op,
            ld,
            batch_stride,
        })
    }
}

/// The one stride between consecutive batch entries of leading dimensions
/// `dims` with `strides`: 0 if they are all 1 (broadcast), else they must
/// equal the output's `lead` and step through memory evenly.
fn batch_stride(dims: &[usize], strides: &[usize], lead: &[usize]) -> Option<i64> {
    if dims.iter().all(|&d| d == 1) {
        return Some(0);
    }
    if dims != lead {
        return None;
    }
    let used: Vec<(usize, usize)> = dims
        .iter()
        .zip(strides)
        .filter(|(d, _)| **d > 1)
        .map(|(&d, &s)| (d, s))
        .collect();
    let (_, inner) = *used.last()?;
    let even = used.windows(2).all(|w| w[0].1 == w[1].1 * w[1].0);
    (even && inner > 0).then_some(inner as i64)
}

impl super::DeviceLibs {
    /// The device's cuBLAS handle, created on first use.
    fn blas_handle(&mut self) -> Result<cudarc::cublas::sys::cublasHandle_t, String> {
        if let Some(handle) = self.blas {
            return Ok(handle);
        }
        let handle = blas::create_handle().map_err(|e| e.to_string())?;
        self.blas = Some(handle);
        Ok(handle)
    }
}

#[cfg(test)]
mod tests {
    use super::batch_stride;

    #[test]
    fn batch_strides_follow_memory_or_broadcast() {
        assert_eq!(batch_stride(&[1, 1], &[7, 7], &[2, 3]), Some(0));
        assert_eq!(batch_stride(&[2, 3], &[60, 20], &[2, 3]), Some(20));
        assert_eq!(
            batch_stride(&[2, 1, 3], &[60, 99, 20], &[2, 1, 3]),
            Some(20)
        );
        // Uneven steps (a sliced batch) and partial broadcasts are refused.
        assert_eq!(batch_stride(&[2, 3], &[100, 20], &[2, 3]), None);
        assert_eq!(batch_stride(&[1, 3], &[60, 20], &[2, 3]), None);
    }
}
