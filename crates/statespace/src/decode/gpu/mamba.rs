//! A Mamba mixer's decode step on the GPU: its weights on the device, the
//! recurrent state of every sequence, and the five launches of a step
//! (pre-norm + in_proj, convolution, x_proj, Δ-projection + scan + gate,
//! out_proj).

use burn::tensor::backend::Backend;

use super::conv::GpuConv;
use super::device::{Arg, Buffer, Gpu};
use super::matrix::{GpuMatrix, NormInput};
use super::{Scratch, values};
use crate::decode::WeightFormat;
use crate::error::{Error, Result};
use crate::layers::mamba::{Mamba, MambaState};

/// Lanes per channel of the scan step (`SCAN_LANES` in kernels.cu).
const SCAN_LANES: usize = 16;

/// A Mamba mixer on the device.
pub(super) struct GpuMamba {
    in_proj: GpuMatrix,
    conv: GpuConv,
    x_proj: GpuMatrix,
    /// Δ's projection (d_inner, dt_rank), read by the scan kernel.
    dt_proj: GpuMatrix,
    /// A = −exp(A_log), (d_inner, N).
    a: Buffer<f32>,
    d: Buffer<f32>,
    out_proj: GpuMatrix,
    pub(super) d_inner: usize,
    pub(super) d_state: usize,
    dt_rank: usize,
    /// (batch, d_inner, N).
    ssm_state: Buffer<f32>,
}

impl GpuMamba {
    /// Uploads `m`'s weights (projections as `format`) and a zero state for
    /// `batch` sequences.
    pub(super) fn new<B: Backend>(
        gpu: &Gpu,
        m: &Mamba<B>,
        format: WeightFormat,
        batch: usize,
    ) -> Result<Self> {
        let [d_inner, d_state] = m.A_log.val().dims();
        let dt_rank = m.dt_proj.weight.val().dims()[1];
        let a: Vec<f32> = values(m.A_log.val()).iter().map(|v| -v.exp()).collect();
        Ok(Self {
            in_proj: GpuMatrix::new(gpu, &m.in_proj, format)?,
            conv: GpuConv::new(gpu, &m.conv1d, batch)?,
            x_proj: GpuMatrix::new(gpu, &m.x_proj, format)?,
            dt_proj: GpuMatrix::new(gpu, &m.dt_proj, format)?,
            a: gpu.upload(&a)?,
            d: gpu.upload(&values(m.D.val()))?,
            out_proj: GpuMatrix::new(gpu, &m.out_proj, format)?,
            d_inner,
            d_state,
            dt_rank,
            ssm_state: gpu.zeros(batch * d_inner * d_state)?,
        })
    }

    /// Widths of the scratch activations a step needs: (2·d_inner, d_inner,
    /// dt_rank + 2N).
    pub(super) fn widths(&self) -> (usize, usize, usize) {
        (
            2 * self.d_inner,
            self.d_inner,
            self.dt_rank + 2 * self.d_state,
        )
    }

    /// Takes every sequence's state from `state` (batch as this decoder's).
    pub(super) fn load_state<B: Backend>(
        &mut self,
        gpu: &Gpu,
        state: &MambaState<B>,
    ) -> Result<()> {
        let ssm = values(state.ssm.clone());
        if ssm.len() != self.ssm_state.len() {
            let batch = self.ssm_state.len() / (self.d_inner * self.d_state);
            return Err(Error::shape(
                "Mamba state (batch, d_inner, N)",
                &[batch, self.d_inner, self.d_state],
                &state.ssm.dims(),
            ));
        }
        self.conv
            .load(gpu, &values(state.conv.clone()), &state.conv.dims())?;
        gpu.write(&ssm, &mut self.ssm_state)
    }

    /// Runs each product once into scratch activations that a step writes
    /// before it reads them (cuBLAS loads its kernels on first use, which
    /// must not fall inside a graph capture).
    pub(super) fn warm_up(&self, gpu: &Gpu, s: &Scratch, batch: usize) -> Result<()> {
        let (xz_w, di, dbl_w) = self.widths();
        let d_model = self.out_proj.rows;
        self.in_proj
            .apply(gpu, &s.normed, d_model, &s.xz, xz_w, batch)?;
        self.x_proj.apply(gpu, &s.u, di, &s.x_dbl, dbl_w, batch)?;
        self.out_proj.apply(gpu, &s.y, di, &s.mixed, d_model, batch)
    }

    /// Queues one step: the block's pre-norm of `input` (batch, d_model) →
    /// `s.mixed` (batch, d_model), advancing the state.
    pub(super) fn step(
        &self,
        gpu: &Gpu,
        input: &NormInput<'_>,
        s: &Scratch,
        batch: usize,
    ) -> Result<()> {
        let (di, n, r) = (self.d_inner, self.d_state, self.dt_rank);
        let (xz_w, _, dbl_w) = self.widths();
        let d_model = self.out_proj.rows;
        self.in_proj.apply_normed(gpu, input, &s.xz, xz_w, batch)?;
        self.conv.step(gpu, s.xz.address(), xz_w, &s.u, batch)?;
        let channels = batch * di;
        self.x_proj.apply(gpu, &s.u, di, &s.x_dbl, dbl_w, batch)?;
        gpu.launch(
            self.dt_proj.format_kernel("scan_step"),
            (channels * SCAN_LANES).div_ceil(256),
            256,
            &[
                s.x_dbl.arg(),
                self.dt_proj.weights(),
                self.dt_proj.bias(),
                self.a.arg(),
                self.d.arg(),
                s.u.arg(),
                s.xz.arg(),
                self.ssm_state.arg(),
                s.y.arg(),
                Arg::size(di)?,
                Arg::size(n)?,
                Arg::size(r)?,
                Arg::size(batch)?,
            ],
        )?;
        self.out_proj.apply(gpu, &s.y, di, &s.mixed, d_model, batch)
    }
}
