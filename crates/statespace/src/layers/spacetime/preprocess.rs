//! SpaceTime's fixed preprocessing SSMs: `DifferencingSSM` (the kernels of
//! (1 − z)^r) and `ResidualSSM` (differencing plus moving-average residuals
//! u_t − mean(u_{t−w+1..t})). Their kernels are buffers, not learned.

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;

use super::config::{ChannelLayout, SsmKwargs};
use super::conv::convolve_rows;
use super::ssm::fir_taps;
use crate::error::{Error, Result};
use crate::io::{HostTensor, load_params};
use crate::layers::init::buffer;
use crate::ops::SsmBackend;

/// Rows r < `rows` of Pascal's triangle with alternating signs, `width`
/// taps: row r holds the coefficients of (1 − z)^r.
pub fn pascal(rows: usize, width: usize) -> Vec<f64> {
    let mut out = vec![0.0; rows * width];
    for r in 0..rows {
        let mut coefficient = 1.0;
        for k in 0..=r.min(width.saturating_sub(1)) {
            out[r * width + k] = coefficient;
            coefficient *= -((r - k) as f64) / (k + 1) as f64;
        }
    }
    out
}

/// Differencing: row j of the kernel (n_kernels, kernel_dim) is (1 − z)^(j
/// mod max_diff_order).
#[derive(Module, Debug)]
pub struct DifferencingSsm<B: Backend> {
    /// The kernel rows (n_kernels, kernel_dim), a buffer.
    pub kernel: Param<Tensor<B, 2>>,
    #[module(skip)]
    layout: ChannelLayout,
}

/// Differencing and moving-average residuals: per repeat block, max_diff_order
/// differencing rows then n_kernels − max_diff_order rows e₀ − (1/w)·1_w.
#[derive(Module, Debug)]
pub struct ResidualSsm<B: Backend> {
    /// Differencing rows (repeat·max_diff_order, max_diff_order), a buffer.
    pub diff_kernel: Param<Tensor<B, 2>>,
    /// Moving-average residual rows (repeat·(n_kernels − max_diff_order),
    /// max_avg_window), a buffer.
    pub ma_r_kernel: Param<Tensor<B, 2>>,
    #[module(skip)]
    layout: ChannelLayout,
    #[module(skip)]
    repeat: usize,
}

impl SsmKwargs {
    fn diff_order(&self) -> Result<usize> {
        self.max_diff_order.filter(|&k| k >= 1).ok_or_else(|| {
            Error::config(
                "max_diff_order",
                "a differencing SSM needs max_diff_order ≥ 1",
            )
        })
    }

    /// The differencing SSM. Fails when kernel_dim < max_diff_order or the
    /// layout does not divide D.
    pub fn init_differencing<B: Backend>(&self, device: &B::Device) -> Result<DifferencingSsm<B>> {
        let order = self.diff_order()?;
        if self.kernel_dim < order {
            return Err(Error::config(
                "kernel_dim",
                format!(
                    "{} taps cannot hold differencing of order up to {}",
                    self.kernel_dim,
                    order - 1
                ),
            ));
        }
        let layout = self.layout(self.kernel_repeat)?;
        let rows = pascal(order, self.kernel_dim);
        let values = (0..self.n_kernels)
            .flat_map(|j| rows[(j % order) * self.kernel_dim..][..self.kernel_dim].to_vec())
            .collect();
        Ok(DifferencingSsm {
            kernel: buffer(values, [self.n_kernels, self.kernel_dim], device),
            layout,
        })
    }

    /// The residual SSM, its moving-average windows drawn uniformly from
    /// [min_avg_window, max_avg_window) by `rng`. Fails unless n_kernels ≥
    /// max_diff_order, the windows are ordered and kernel_repeat·n_kernels·
    /// head_dim = model_dim.
    pub fn init_residual<B: Backend>(
        &self,
        device: &B::Device,
        rng: &mut impl Rng,
    ) -> Result<ResidualSsm<B>> {
        let order = self.diff_order()?;
        let (low, high) = (
            self.min_avg_window.unwrap_or(4),
            self.max_avg_window.unwrap_or(720),
        );
        if self.n_kernels < order || low == 0 || low >= high {
            return Err(Error::config(
                "n_kernels/min_avg_window/max_avg_window",
                format!(
                    "need n_kernels ≥ max_diff_order ({} < {order}?) and 1 ≤ min_avg_window < \
                     max_avg_window ({low}, {high})",
                    self.n_kernels
                ),
            ));
        }
        let repeat = self.kernel_repeat;
        let head_dim = self.head_dim.unwrap_or(1);
        if repeat * self.n_kernels * head_dim != self.model_dim {
            return Err(Error::config(
                "model_dim",
                format!(
                    "a residual SSM needs kernel_repeat·n_kernels·head_dim = model_dim ({repeat}·{}·{head_dim} ≠ {})",
                    self.n_kernels, self.model_dim
                ),
            ));
        }
        let layout = ChannelLayout {
            channels: self.model_dim,
            heads: 1,
            head_dim,
        };
        let diff: Vec<f64> = (0..repeat).flat_map(|_| pascal(order, order)).collect();
        let moving = repeat * (self.n_kernels - order);
        let mut ma = vec![0.0; moving * high];
        for row in 0..moving {
            let window = rng.random_range(low..high);
            ma[row * high] = 1.0;
            for tap in 0..window {
                ma[row * high + tap] -= 1.0 / window as f64;
            }
        }
        Ok(ResidualSsm {
            diff_kernel: buffer(diff, [repeat * order, order], device),
            ma_r_kernel: buffer(ma, [moving, high], device),
            layout,
            repeat,
        })
    }
}

impl<B: SsmBackend> DifferencingSsm<B> {
    /// Replaces the kernel by `lookup("kernel")`.
    pub fn load(self, lookup: impl FnMut(&str) -> Result<HostTensor<f64>>) -> Result<Self> {
        load_params(self, lookup)
    }

    /// The kernel rows as `len` taps (n_kernels, len), before the channel
    /// spread (the official `get_kernel`).
    pub fn kernel_rows(&self, len: usize) -> Tensor<B, 2> {
        fir_taps(self.kernel.val(), len)
    }

    /// u (B, L, D) → (B, L, D).
    pub fn forward(&self, u: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let len = u.dims()[1].max(1);
        convolve_rows(u, self.kernel_rows(len), self.layout, None)
    }
}

impl<B: SsmBackend> ResidualSsm<B> {
    /// Replaces the buffers by `lookup("diff_kernel")`, `lookup("ma_r_kernel")`.
    pub fn load(self, lookup: impl FnMut(&str) -> Result<HostTensor<f64>>) -> Result<Self> {
        load_params(self, lookup)
    }

    /// The kernel of each channel (D, max(len, max_diff_order)): per repeat
    /// block its differencing rows then its moving-average rows, each
    /// repeated head_dim times (the official `get_kernel`).
    pub fn kernel(&self, len: usize) -> Tensor<B, 2> {
        let diff = self.diff_kernel.val();
        let width = len.max(diff.dims()[1]);
        let diff = fir_taps(diff, width);
        let ma = fir_taps(self.ma_r_kernel.val(), width);
        let (per_diff, per_ma) = (diff.dims()[0] / self.repeat, ma.dims()[0] / self.repeat);
        let blocks: Vec<Tensor<B, 2>> = (0..self.repeat)
            .flat_map(|r| {
                [
                    diff.clone().narrow(0, r * per_diff, per_diff),
                    ma.clone().narrow(0, r * per_ma, per_ma),
                ]
            })
            .collect();
        let rows = Tensor::cat(blocks, 0);
        let [count, _] = rows.dims();
        let hd = self.layout.head_dim;
        rows.unsqueeze_dim::<3>(1)
            .repeat_dim(1, hd)
            .reshape([count * hd, width])
    }

    /// u (B, L, D) → (B, L, D).
    pub fn forward(&self, u: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let len = u.dims()[1].max(1);
        let per_channel = ChannelLayout {
            heads: 1,
            head_dim: 1,
            ..self.layout
        };
        convolve_rows(u, self.kernel(len), per_channel, None)
    }
}
