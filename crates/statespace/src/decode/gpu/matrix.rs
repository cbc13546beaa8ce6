//! A weight matrix of the fused GPU decoder, on the device in a
//! [`WeightFormat`], and its matrix–vector product over a batch.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use half::{bf16, f16};

use super::blas::Blas;
use super::device::{Arg, Buffer, Gpu};
use super::values;
use crate::decode::WeightFormat;
use crate::error::{Error, Result};
use crate::layers::linear::Linear;

/// Warps per block of the products (`WARPS` in kernels.cu).
const GEMV_WARPS: usize = 8;
/// Sequences whose products share one pass over the weights (`BATCH_TILE`).
const BATCH_TILE: usize = 8;
/// Dynamic shared memory a block may take without opting in, less the
/// kernels' static shared memory.
const SHARED_BYTES: usize = 48 * 1024 - 512;
/// Warps per multiprocessor a product aims to give work to.
const WARPS_PER_SM: usize = 16;

/// The residual stream read by a product's fused RMSNorm prologue: x =
/// RMSNorm(res_in + add) · weight per sequence, res_in + add written to
/// res_out (each (batch, cols); add and res_out may be null). Where the
/// product runs on cuBLAS with f32 weights, x is first written to
/// `normed`.
pub(super) struct NormInput<'a> {
    pub(super) res_in: &'a Buffer<f32>,
    pub(super) add: Option<&'a Buffer<f32>>,
    pub(super) res_out: Option<&'a Buffer<f32>>,
    pub(super) weight: &'a Buffer<f32>,
    pub(super) eps: f32,
    pub(super) normed: &'a Buffer<f32>,
}

/// The matrix's values on the device.
enum Stored {
    F32(Buffer<f32>),
    /// bf16 or f16 bits.
    Half(Buffer<u16>),
}

/// W (rows, cols) as a Linear stores it, and its optional bias (rows).
pub(super) struct GpuMatrix {
    stored: Stored,
    bias: Option<Buffer<f32>>,
    format: WeightFormat,
    pub(super) rows: usize,
    cols: usize,
}

impl GpuMatrix {
    /// A Linear layer's weight and bias, the weight stored as `format`.
    pub(super) fn new<B: Backend>(
        gpu: &Gpu,
        linear: &Linear<B>,
        format: WeightFormat,
    ) -> Result<Self> {
        let mut m = Self::of(gpu, linear.weight.val(), format)?;
        m.bias = linear
            .bias
            .as_ref()
            .map(|b| gpu.upload(&values(b.val())))
            .transpose()?;
        Ok(m)
    }

    /// A (rows, cols) tensor with no bias, stored as `format`.
    pub(super) fn of<B: Backend>(gpu: &Gpu, w: Tensor<B, 2>, format: WeightFormat) -> Result<Self> {
        let [rows, cols] = w.dims();
        let v = values(w);
        let stored = match format {
            WeightFormat::F32 => Stored::F32(gpu.upload(&v)?),
            WeightFormat::Bf16 => Stored::Half(
                gpu.upload(
                    &v.iter()
                        .map(|&x| bf16::from_f32(x).to_bits())
                        .collect::<Vec<_>>(),
                )?,
            ),
            WeightFormat::F16 => Stored::Half(
                gpu.upload(
                    &v.iter()
                        .map(|&x| f16::from_f32(x).to_bits())
                        .collect::<Vec<_>>(),
                )?,
            ),
        };
        Ok(Self {
            stored,
            bias: None,
            format,
            rows,
            cols,
        })
    }

    /// The weights' address.
    pub(super) fn weights(&self) -> Arg {
        match &self.stored {
            Stored::F32(b) => b.arg(),
            Stored::Half(b) => b.arg(),
        }
    }

    /// The bias's address (null without one).
    pub(super) fn bias(&self) -> Arg {
        self.bias.as_ref().map_or(Arg::Ptr(0), Buffer::arg)
    }

    /// The entry point `{prefix}_{format}` of kernels.cu that reads this
    /// matrix (`gemv`, `norm_gemv` or `scan_step`).
    pub(super) fn format_kernel(&self, prefix: &str) -> &'static str {
        match (prefix, self.format) {
            ("gemv", WeightFormat::F32) => "gemv_f32",
            ("gemv", WeightFormat::Bf16) => "gemv_bf16",
            ("gemv", WeightFormat::F16) => "gemv_f16",
            ("norm_gemv", WeightFormat::F32) => "norm_gemv_f32",
            ("norm_gemv", WeightFormat::Bf16) => "norm_gemv_bf16",
            ("norm_gemv", WeightFormat::F16) => "norm_gemv_f16",
            ("scan_step", WeightFormat::F32) => "scan_step_f32",
            ("scan_step", WeightFormat::Bf16) => "scan_step_bf16",
            ("scan_step", WeightFormat::F16) => "scan_step_f16",
            _ => unreachable!("no kernel {prefix} in kernels.cu"),
        }
    }

    /// Warps per row (1, 2, 4 or 8): enough that the grid gives every
    /// multiprocessor WARPS_PER_SM warps where the rows alone would not.
    fn split(&self, gpu: &Gpu) -> usize {
        let want = (WARPS_PER_SM * gpu.multiprocessors).div_ceil(self.rows.max(1));
        want.next_power_of_two().clamp(1, GEMV_WARPS)
    }

    /// Queues y[b, ..rows] = W x[b, ..cols] (+ bias) for `batch` rows of x
    /// (row stride `x_stride`) into y (row stride `y_stride`).
    pub(super) fn apply(
        &self,
        gpu: &Gpu,
        x: &Buffer<f32>,
        x_stride: usize,
        y: &Buffer<f32>,
        y_stride: usize,
        batch: usize,
    ) -> Result<()> {
        let Some(blas) = &gpu.blas else {
            return self.gemv(gpu, Some((x, x_stride)), None, y, y_stride, batch);
        };
        match self.format {
            WeightFormat::F32 => {
                self.blas_gemm(gpu, blas, x.address(), x_stride, y, y_stride, batch)
            }
            WeightFormat::Bf16 | WeightFormat::F16 => {
                gpu.launch(
                    "to_half",
                    (self.cols * batch).div_ceil(256),
                    256,
                    &[
                        x.arg(),
                        blas.staging.arg(),
                        Arg::size(self.cols)?,
                        Arg::size(batch)?,
                        Arg::size(x_stride)?,
                        self.format_code(),
                    ],
                )?;
                self.blas_gemm(
                    gpu,
                    blas,
                    blas.staging.address(),
                    self.cols,
                    y,
                    y_stride,
                    batch,
                )
            }
        }
    }

    /// Queues y[b] = W RMSNorm(res_in[b] + add[b]) (+ bias) for `batch`
    /// sequences (the norm made by each block, see [`NormInput`]), y with
    /// row stride `y_stride`. Fails when a row of the residual is too wide
    /// for a block's shared memory.
    pub(super) fn apply_normed(
        &self,
        gpu: &Gpu,
        input: &NormInput<'_>,
        y: &Buffer<f32>,
        y_stride: usize,
        batch: usize,
    ) -> Result<()> {
        let Some(blas) = &gpu.blas else {
            return self.gemv(gpu, None, Some(input), y, y_stride, batch);
        };
        // The norm is written in the GEMM's input format: f32 to `normed`,
        // 16 bits to the staging buffer.
        let normed = match self.format {
            WeightFormat::F32 => input.normed.address(),
            WeightFormat::Bf16 | WeightFormat::F16 => blas.staging.address(),
        };
        let null = Arg::Ptr(0);
        gpu.launch(
            "add_rms_norm",
            batch,
            self.cols.next_multiple_of(32).clamp(32, 1024),
            &[
                input.res_in.arg(),
                input.add.map_or(null, Buffer::arg),
                input.res_out.map_or(null, Buffer::arg),
                input.weight.arg(),
                Arg::Float(input.eps),
                Arg::Ptr(normed),
                Arg::size(self.cols)?,
                self.format_code(),
            ],
        )?;
        self.blas_gemm(gpu, blas, normed, self.cols, y, y_stride, batch)
    }

    /// The weights' format as kernels.cu numbers it (0 f32, 1 bf16, 2 f16).
    fn format_code(&self) -> Arg {
        Arg::Int(match self.format {
            WeightFormat::F32 => 0,
            WeightFormat::Bf16 => 1,
            WeightFormat::F16 => 2,
        })
    }

    /// Queues the GEMM of x (at device address `x`, in this matrix's
    /// format) into y, then the bias.
    #[allow(clippy::too_many_arguments)]
    fn blas_gemm(
        &self,
        gpu: &Gpu,
        blas: &Blas,
        x: u64,
        x_stride: usize,
        y: &Buffer<f32>,
        y_stride: usize,
        batch: usize,
    ) -> Result<()> {
        let w = match &self.stored {
            Stored::F32(b) => b.address(),
            Stored::Half(b) => b.address(),
        };
        blas.gemm(
            self.format,
            w,
            x,
            y.address(),
            self.rows,
            self.cols,
            batch,
            x_stride,
            y_stride,
        )?;
        let Some(bias) = &self.bias else {
            return Ok(());
        };
        gpu.launch(
            "add_bias",
            (self.rows * batch).div_ceil(256),
            256,
            &[
                y.arg(),
                bias.arg(),
                Arg::size(self.rows)?,
                Arg::size(batch)?,
                Arg::size(y_stride)?,
            ],
        )
    }

    /// Queues the decoder's own product kernel: `gemv_*` of x (with its row
    /// stride) or `norm_gemv_*` of a normalised residual. Fails when a row
    /// of the residual is too wide for a block's shared memory.
    fn gemv(
        &self,
        gpu: &Gpu,
        x: Option<(&Buffer<f32>, usize)>,
        norm: Option<&NormInput<'_>>,
        y: &Buffer<f32>,
        y_stride: usize,
        batch: usize,
    ) -> Result<()> {
        let tile = (SHARED_BYTES / (4 * self.cols)).min(BATCH_TILE).min(batch);
        if norm.is_some() && tile == 0 {
            return Err(Error::config(
                "d_model",
                format!(
                    "{} is too wide for the fused GPU decoder's normalised products (at most {})",
                    self.cols,
                    SHARED_BYTES / 4
                ),
            ));
        }
        let null = Arg::Ptr(0);
        let split = self.split(gpu);
        let (x_arg, x_stride) = x.map_or((null, 0), |(x, stride)| (x.arg(), stride));
        gpu.launch_shared(
            self.format_kernel(if norm.is_some() { "norm_gemv" } else { "gemv" }),
            self.rows.div_ceil(GEMV_WARPS / split),
            GEMV_WARPS * 32,
            if norm.is_some() {
                tile * self.cols * 4
            } else {
                0
            },
            &[
                self.weights(),
                x_arg,
                self.bias(),
                y.arg(),
                Arg::size(self.rows)?,
                Arg::size(self.cols)?,
                Arg::size(batch)?,
                Arg::size(x_stride)?,
                Arg::size(y_stride)?,
                Arg::size(split)?,
                norm.map_or(null, |n| n.res_in.arg()),
                norm.and_then(|n| n.add).map_or(null, Buffer::arg),
                norm.and_then(|n| n.res_out).map_or(null, Buffer::arg),
                norm.map_or(null, |n| n.weight.arg()),
                Arg::Float(norm.map_or(0.0, |n| n.eps)),
                Arg::size(tile)?,
            ],
        )
    }
}
