//! The full-precision matmul on CubeCL devices: cuBLAS on CUDA devices
//! where the library loads (`ops::cuda_libs`): SGEMM for f32, the tensor
//! cores with f32 accumulation for bf16 and f16; else cubek's unit routine
//! for f32 (no tensor cores, so f32 stays f32) and burn's matmul (tensor
//! cores, f32 accumulation) for 16-bit operands; the CPU's for f64
//! operands, through host memory (cubek has no f64 matmul). Where TF32 is
//! allowed (`precision.rs`), f32 operands take the tensor cores too: cuBLAS
//! with its TF32 compute type, else burn's matmul.

use burn::tensor::DType;
use burn::tensor::ops::FloatTensor;
use burn::tensor::ops::FloatTensorOps;
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::kernel::matmul::init_matmul_output;
use burn_cubecl::ops::numeric::empty_device_dtype;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use cubek::matmul::definition::{MatmulElems, MatmulGlobalElems};
use cubek::matmul::launch::{Strategy, launch_ref};
use cubek::std::InputBinding;

use burn_flex::Flex;

use super::{MatmulOps, tf32_allowed};
use crate::ops::cuda_libs::cublas;
use crate::ops::support::host::{from_host, to_host};

/// The largest divisor of `n` not above √n.
fn block_of(n: usize) -> usize {
    (1..=n.isqrt())
        .rev()
        .find(|d| n.is_multiple_of(*d))
        .unwrap_or(1)
}

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> MatmulOps
    for CubeBackend<R, F, I, BT>
{
    /// In two stages: burn's sum over a tall axis into a narrow output runs
    /// on one cube (7.2 ms for 65,536 × 256 rows on the H200, the bias
    /// gradient of an S4D classifier's output layer), so blocks of about √rows
    /// rows are summed first, then the block sums.
    fn column_sum(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let [rows, cols] = x.meta.shape().dims::<2>();
        let block = block_of(rows);
        let x = if block > 1 {
            let blocks = Self::float_reshape(x, [rows / block, block, cols].into());
            Self::float_reshape(Self::float_sum_dim(blocks, 1), [rows / block, cols].into())
        } else {
            x
        };
        Self::float_reshape(Self::float_sum_dim(x, 0), [cols].into())
    }

    fn exact_matmul(lhs: FloatTensor<Self>, rhs: FloatTensor<Self>) -> FloatTensor<Self> {
        if lhs.dtype == DType::F64 || rhs.dtype == DType::F64 {
            // cubek's matmul has no f64: the CPU's, through host memory.
            let device = lhs.device.clone();
            let out = Flex::exact_matmul(to_host::<Self>(lhs), to_host::<Self>(rhs));
            return from_host::<Self>(out, &device);
        }
        let tf32 = tf32_allowed();
        if let Some(out) = cublas::matmul(&lhs, &rhs, tf32) {
            return out;
        }
        if tf32 || lhs.dtype != DType::F32 || rhs.dtype != DType::F32 {
            // burn's routine: tensor cores, TF32 for f32 operands.
            return Self::float_matmul(lhs, rhs);
        }
        let out = init_matmul_output(&lhs, &rhs, DType::F32);
        let mut dtypes = MatmulElems::from_globals(&MatmulGlobalElems {
            lhs: DType::F32.into(),
            rhs: DType::F32.into(),
            out: DType::F32.into(),
        });
        let client = out.client.clone();
        // SimpleUnit measured 2× faster than DoubleUnit on the H200
        // (`ssm bench kernels --only matmul`).
        let launched = launch_ref(
            &Strategy::SimpleUnit(Default::default()),
            &client,
            InputBinding::new(lhs.clone().binding(), DType::F32.into()),
            InputBinding::new(rhs.clone().binding(), DType::F32.into()),
            out.clone().binding(),
            &mut dtypes,
        );
        if launched.is_ok() {
            return out;
        }
        // The unit routine rejects some layouts; contiguous operands through
        // the naive routine are always accepted.
        let (lhs, rhs) = (into_contiguous(lhs), into_contiguous(rhs));
        let out = empty_device_dtype(
            out.client.clone(),
            out.device.clone(),
            out.meta.shape().clone(),
            DType::F32,
        );
        launch_ref(
            &Strategy::Naive,
            &client,
            InputBinding::new(lhs.binding(), DType::F32.into()),
            InputBinding::new(rhs.binding(), DType::F32.into()),
            out.clone().binding(),
            &mut dtypes,
        )
        .expect("the naive matmul takes contiguous f32 operands");
        out
    }
}
