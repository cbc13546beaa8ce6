//! The float type the CPU (Flex) kernels compute in: f64 for f64 inputs,
//! f32 for everything else. f32 inputs go in as they are; 16-bit ones
//! (bf16, f16) are widened to f32 with burn's float cast before the kernel,
//! and its results narrowed back to the inputs' storage type after it.

use burn::tensor::ops::FloatTensorOps;
use burn::tensor::{DType, FloatDType};
use burn_flex::{Flex, FlexTensor};

/// The float type of a CPU kernel's arithmetic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Precision {
    F32,
    F64,
}

impl Precision {
    /// f64 when any of `dtypes` is f64, else f32.
    pub(crate) fn of(dtypes: &[DType]) -> Self {
        if dtypes.contains(&DType::F64) {
            Precision::F64
        } else {
            Precision::F32
        }
    }

    /// `t` stored in this precision, for the kernel to read (a no-op when
    /// it already is).
    pub(crate) fn widen(self, t: FlexTensor) -> FlexTensor {
        let dtype = match self {
            Precision::F32 => FloatDType::F32,
            Precision::F64 => FloatDType::F64,
        };
        Flex::float_cast(t, dtype)
    }
}

/// A kernel's result `t` in the storage type `dtype` of the input it stands
/// for (a no-op when it already is).
pub(crate) fn narrow(t: FlexTensor, dtype: DType) -> FlexTensor {
    if t.dtype() == dtype {
        return t;
    }
    Flex::float_cast(t, dtype.into())
}
