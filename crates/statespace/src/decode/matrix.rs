//! The weight matrices of the fused decoder: the model's own f32 values
//! (shared, not copied) and, where asked for, a 16-bit copy that halves the
//! bytes a decode step streams; the arithmetic is f32 either way.

use std::fmt;
use std::str::FromStr;

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use half::{bf16, f16};
use rayon::prelude::*;

use super::cpu_kernels::matmul_t;
use super::gemv::gemv;
use super::shared::Shared;
use crate::error::{Error, Result};

/// How the fused decoder stores the matrices a one-token step streams (the
/// mixers' projections and the head). The embeddings, the vectors (norms,
/// biases, the convolution, A, D), the activations, the state and every sum
/// stay f32.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightFormat {
    /// The model's f32 values, read in place.
    #[default]
    F32,
    /// bfloat16, rounded to nearest even: exact for a bf16 checkpoint.
    Bf16,
    /// IEEE half precision, rounded to nearest even: exact for an f16
    /// checkpoint (values past ±65504 become infinite).
    F16,
}

impl WeightFormat {
    /// Every format, in the order their names are listed.
    pub const ALL: [Self; 3] = [Self::F32, Self::Bf16, Self::F16];

    /// The name [`FromStr`] reads and [`fmt::Display`] writes.
    pub fn name(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::F16 => "f16",
        }
    }
}

impl fmt::Display for WeightFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for WeightFormat {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        Self::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = Self::ALL.iter().map(|f| f.name()).collect();
                Error::config(
                    "weights",
                    format!("unknown weight format {s:?}: use one of {names:?}"),
                )
            })
    }
}

/// `values` rounded to a 16-bit format (to nearest, ties to even), in
/// parallel.
fn narrowed<H: Send>(values: &[f32], round: fn(f32) -> H) -> Vec<H> {
    values.par_iter().map(|&v| round(v)).collect()
}

/// A 16-bit copy of a matrix's values.
enum Half {
    Bf16(Vec<bf16>),
    F16(Vec<f16>),
}

/// A (rows, cols) row-major weight matrix: the model's f32 values (shared)
/// and, for a 16-bit [`WeightFormat`], a 16-bit copy that one-token products
/// read instead. A block of tokens is compute-bound, not bandwidth-bound,
/// and multiplies by the f32 values: on a checkpoint saved in the 16-bit
/// format those are the same numbers.
pub(crate) struct Matrix {
    values: Shared,
    half: Option<Half>,
}

impl Matrix {
    /// `t` (an f32 tensor of the CPU backend) with a copy in `format`
    /// when that is 16-bit; `None` for other backends or dtypes.
    pub(crate) fn of<B: Backend, const D: usize>(
        t: Tensor<B, D>,
        format: WeightFormat,
    ) -> Option<Self> {
        let values = Shared::of(t)?;
        let half = match format {
            WeightFormat::F32 => None,
            WeightFormat::Bf16 => Some(Half::Bf16(narrowed(values.slice(), bf16::from_f32))),
            WeightFormat::F16 => Some(Half::F16(narrowed(values.slice(), f16::from_f32))),
        };
        Some(Self { values, half })
    }

    /// Y = X Wᵀ (+ b) for `rows` tokens: X (rows, cols), Y (rows, self's
    /// rows). One token reads the 16-bit copy where there is one.
    pub(crate) fn matmul_t(&self, rows: usize, x: &[f32], bias: Option<&[f32]>, y: &mut [f32]) {
        match (&self.half, rows) {
            (Some(Half::Bf16(w)), 1) => gemv(w, x, bias, y),
            (Some(Half::F16(w)), 1) => gemv(w, x, bias, y),
            _ => matmul_t(rows, x, self.values.slice(), bias, y),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use burn::tensor::TensorData;

    #[test]
    fn formats_parse_print_and_name_the_bad_one() {
        for format in WeightFormat::ALL {
            assert_eq!(format.to_string().parse::<WeightFormat>().unwrap(), format);
        }
        let err = "fp8".parse::<WeightFormat>().unwrap_err().to_string();
        assert!(err.contains("weights") && err.contains("fp8"), "{err}");
    }

    /// One token multiplies by the rounded 16-bit values, a block by the
    /// f32 ones.
    #[test]
    fn one_token_reads_the_sixteen_bit_copy() {
        let (rows, cols) = (9, 33);
        let w: Vec<f32> = (0..rows * cols).map(|i| (i as f32 * 0.37).sin()).collect();
        let x: Vec<f32> = (0..2 * cols).map(|i| (i as f32 * 0.11).cos()).collect();
        let t = Tensor::<Flex, 2>::from_data(
            TensorData::new(w.clone(), [rows, cols]),
            &Default::default(),
        );
        let mut exact = vec![0.0; 2 * rows];
        matmul_t(2, &x, &w, None, &mut exact);
        for format in [WeightFormat::Bf16, WeightFormat::F16] {
            let m = Matrix::of(t.clone(), format).unwrap();
            let rounded: Vec<f32> = w
                .iter()
                .map(|&v| match format {
                    WeightFormat::Bf16 => bf16::from_f32(v).to_f32(),
                    _ => f16::from_f32(v).to_f32(),
                })
                .collect();
            let mut want = vec![0.0; rows];
            matmul_t(1, &x[..cols], &rounded, None, &mut want);
            let mut one = vec![0.0; rows];
            m.matmul_t(1, &x[..cols], None, &mut one);
            let mut block = vec![0.0; 2 * rows];
            m.matmul_t(2, &x, None, &mut block);
            for (got, want) in one.iter().chain(&block).zip(want.iter().chain(&exact)) {
                assert!((got - want).abs() < 1e-5, "{format}: {got} vs {want}");
            }
        }
    }
}
