//! A Mamba-2 mixer's decode step on the GPU: its weights on the device, the
//! recurrent state of every sequence, and the five launches of a step
//! (pre-norm + in_proj, convolution, SSM step, gated RMSNorm, out_proj),
//! the arithmetic of the CPU's fused Mamba-2 decoder: per head,
//!
//!   h ← e^{Δ·A} h + (Δ·x) ⊗ B_group,   y = h · C_group + D·x,
//!
//! then the gated RMSNorm (or y·silu(z)) and out_proj.

use burn::tensor::backend::Backend;

use super::conv::GpuConv;
use super::device::{Arg, Buffer, Gpu};
use super::matrix::{GpuMatrix, NormInput};
use super::{Scratch, values};
use crate::decode::WeightFormat;
use crate::error::{Error, Result};
use crate::layers::mamba2::{Mamba2, Mamba2State};

/// Threads per block of the SSM step (a warp per channel).
const STEP_THREADS: usize = 256;
/// Threads per block of the gated norm.
const NORM_THREADS: usize = 256;

/// The gated RMSNorm's parameters.
struct GatedNorm {
    weight: Buffer<f32>,
    eps: f32,
    groups: usize,
    before_gate: bool,
}

/// A Mamba-2 mixer on the device.
pub(super) struct GpuMamba2 {
    /// d_model → (z, xBC, Δ).
    in_proj: GpuMatrix,
    conv: GpuConv,
    dt_bias: Buffer<f32>,
    /// A = −exp(A_log) per head.
    a: Buffer<f32>,
    d: Buffer<f32>,
    norm: Option<GatedNorm>,
    out_proj: GpuMatrix,
    dt_limit: (f32, f32),
    heads: usize,
    headdim: usize,
    d_state: usize,
    groups: usize,
    /// (batch, heads, headdim, N).
    ssm_state: Buffer<f32>,
}

impl GpuMamba2 {
    /// Whether the decoder runs `m`: its in_proj holds exactly (z, xBC, Δ)
    /// (no extra MLP channels), as the CPU's fused decoder requires.
    pub(super) fn supports<B: Backend>(m: &Mamba2<B>) -> bool {
        let d_inner = m.nheads() * m.headdim;
        m.in_proj.d_out() == d_inner + m.conv1d.channels() + m.nheads()
    }

    /// Uploads `m`'s weights (projections as `format`) and a zero state for
    /// `batch` sequences; `m` passes [`Self::supports`].
    pub(super) fn new<B: Backend>(
        gpu: &Gpu,
        m: &Mamba2<B>,
        format: WeightFormat,
        batch: usize,
    ) -> Result<Self> {
        let heads = m.nheads();
        let (headdim, d_state, groups) = (m.headdim, m.d_state, m.ngroups);
        let a: Vec<f32> = values(m.A_log.val()).iter().map(|v| -v.exp()).collect();
        let norm = m
            .norm
            .as_ref()
            .map(|norm| {
                Ok::<_, Error>(GatedNorm {
                    weight: gpu.upload(&values(norm.weight.val()))?,
                    eps: norm.eps as f32,
                    groups: norm.n_groups,
                    before_gate: norm.norm_before_gate,
                })
            })
            .transpose()?;
        Ok(Self {
            in_proj: GpuMatrix::new(gpu, &m.in_proj, format)?,
            conv: GpuConv::new(gpu, &m.conv1d, batch)?,
            dt_bias: gpu.upload(&values(m.dt_bias.val()))?,
            a: gpu.upload(&a)?,
            d: gpu.upload(&values(m.D.val()))?,
            norm,
            out_proj: GpuMatrix::new(gpu, &m.out_proj, format)?,
            dt_limit: (m.dt_limit_min as f32, m.dt_limit_max as f32),
            heads,
            headdim,
            d_state,
            groups,
            ssm_state: gpu.zeros(batch * heads * headdim * d_state)?,
        })
    }

    fn d_inner(&self) -> usize {
        self.heads * self.headdim
    }

    /// Widths of the scratch activations a step needs: (the in_proj output
    /// d_inner + conv_dim + heads, conv_dim, none).
    pub(super) fn widths(&self) -> (usize, usize, usize) {
        (
            self.d_inner() + self.conv.channels + self.heads,
            self.conv.channels,
            1,
        )
    }

    /// Takes every sequence's state from `state` (batch as this decoder's).
    pub(super) fn load_state<B: Backend>(
        &mut self,
        gpu: &Gpu,
        state: &Mamba2State<B>,
    ) -> Result<()> {
        let ssm = values(state.ssm.clone());
        if ssm.len() != self.ssm_state.len() {
            let per = self.heads * self.headdim * self.d_state;
            return Err(Error::shape(
                "Mamba-2 state (batch, heads, headdim, N)",
                &[
                    self.ssm_state.len() / per,
                    self.heads,
                    self.headdim,
                    self.d_state,
                ],
                &state.ssm.dims(),
            ));
        }
        self.conv
            .load(gpu, &values(state.conv.clone()), &state.conv.dims())?;
        gpu.write(&ssm, &mut self.ssm_state)
    }

    /// Runs each product once into scratch activations that a step writes
    /// before it reads them (see [`super::mamba::GpuMamba::warm_up`]).
    pub(super) fn warm_up(&self, gpu: &Gpu, s: &Scratch, batch: usize) -> Result<()> {
        let d_model = self.out_proj.rows;
        let (width, _, _) = self.widths();
        self.in_proj
            .apply(gpu, &s.normed, d_model, &s.xz, width, batch)?;
        self.out_proj
            .apply(gpu, &s.y, self.d_inner(), &s.mixed, d_model, batch)
    }

    /// Queues one step: the block's pre-norm of `input` (batch, d_model) →
    /// `s.mixed` (batch, d_model), advancing the state. The in_proj output
    /// goes to `s.xz`, the convolved xBC to `s.u`.
    pub(super) fn step(
        &self,
        gpu: &Gpu,
        input: &NormInput<'_>,
        s: &Scratch,
        batch: usize,
    ) -> Result<()> {
        let (width, conv_dim, _) = self.widths();
        let d_inner = self.d_inner();
        let d_model = self.out_proj.rows;
        self.in_proj.apply_normed(gpu, input, &s.xz, width, batch)?;
        // xBC sits after z in the in_proj output.
        let xbc = s.xz.address() + (d_inner * size_of::<f32>()) as u64;
        self.conv.step(gpu, xbc, width, &s.u, batch)?;
        gpu.launch(
            "ssd_step",
            (batch * d_inner * 32).div_ceil(STEP_THREADS),
            STEP_THREADS,
            &[
                s.xz.arg(),
                Arg::size(width)?,
                Arg::size(d_inner + conv_dim)?,
                s.u.arg(),
                Arg::size(conv_dim)?,
                self.dt_bias.arg(),
                self.a.arg(),
                self.d.arg(),
                self.ssm_state.arg(),
                s.y.arg(),
                Arg::size(self.heads)?,
                Arg::size(self.headdim)?,
                Arg::size(self.d_state)?,
                Arg::size(self.groups)?,
                Arg::Float(self.dt_limit.0),
                Arg::Float(self.dt_limit.1),
                Arg::Int(i32::from(self.norm.is_none())),
                Arg::size(batch)?,
            ],
        )?;
        if let Some(norm) = &self.norm {
            gpu.launch(
                "gated_norm",
                batch * norm.groups,
                NORM_THREADS,
                &[
                    s.y.arg(),
                    s.xz.arg(),
                    Arg::size(width)?,
                    norm.weight.arg(),
                    Arg::Float(norm.eps),
                    Arg::size(d_inner)?,
                    Arg::size(norm.groups)?,
                    Arg::Int(i32::from(norm.before_gate)),
                ],
            )?;
        }
        self.out_proj
            .apply(gpu, &s.y, d_inner, &s.mixed, d_model, batch)
    }
}
