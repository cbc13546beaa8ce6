//! The fused decode step of a Mamba or Mamba-2 language model on an NVIDIA
//! GPU, for a batch of sequences, replayed as one CUDA graph per token.
//!
//! Run as burn tensor ops, a mamba-130m token is several hundred small
//! kernels, each dispatched by the host (14 ms at batch 1 on an H200,
//! docs/BENCHMARKS.md). [`GpuDecoder`] holds the model's weights on the
//! device in a [`WeightFormat`] and runs a token in five kernels per block
//! (Mamba: residual add + RMSNorm fused into in_proj, convolution, x_proj,
//! Δ-projection + scan + gate, out_proj; Mamba-2: the fused in_proj,
//! convolution, SSM step, gated RMSNorm, out_proj; the products read 16
//! bytes of weights per lane, several warps per row where rows are few), with
//! every activation and state in f32, as the CPU's [`super::FusedDecoder`]
//! computes it. The whole step, from the token ids to the logits (and, for
//! greedy decoding, the next ids), is captured once as a CUDA graph and
//! replayed, so a token costs one launch from the host.
//!
//! From [`BLAS_MIN_BATCH`] sequences on, the products run as cuBLAS GEMMs
//! on the same stream (captured in the graph too): f32 weights in full f32;
//! 16-bit weights, by default, on tensor cores with the activations
//! rounded to the weights' format ([`HalfProducts`]).
//!
//! The kernels are CUDA C compiled at run time by NVRTC and launched
//! through cudarc on a stream of the decoder's own, not CubeCL kernels:
//! capture needs every launch of the step on one stream with memory
//! allocated up front, which CubeCL's runtime (its own streams and memory
//! pool) does not expose.

mod blas;
mod conv;
mod device;
mod mamba;
mod mamba2;
mod matrix;

use std::any::Any;

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use burn_cubecl::tensor::CubeTensor;
use cubecl::cuda::CudaRuntime;
use cudarc::driver::CudaGraph;

use crate::decode::{WeightFormat, layer_states, other_mixer_state};
use crate::error::{Error, Result};
use crate::models::{LanguageModel, LmState, Mixer, MixerState};
use device::{Arg, Buffer, Gpu};
use mamba::GpuMamba;
use mamba2::GpuMamba2;
use matrix::{GpuMatrix, NormInput};

/// Sequences from which the products run as cuBLAS GEMMs (below it, and
/// for 16-bit weights with [`HalfProducts::F32`], on the decoder's own
/// matrix–vector kernels).
pub const BLAS_MIN_BATCH: usize = 16;

/// How the products of 16-bit weights treat the activations from
/// [`BLAS_MIN_BATCH`] sequences on (below it, and for f32 weights, the
/// activations stay f32 whatever this says).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum HalfProducts {
    /// Each product's input rounded to the weights' format (bf16 or f16,
    /// to nearest) and multiplied on tensor cores with f32 accumulation,
    /// as mamba_ssm computes in bf16; the norms, the convolution, the scan
    /// and the residual stay f32. Logits agree with [`Self::F32`] to bf16
    /// precision (the GPU selftest holds them to 1e-2 relative).
    #[default]
    TensorCores,
    /// Activations kept in f32 on the decoder's own kernels: the numbers of
    /// the CPU's [`super::FusedDecoder`] at any batch, at several times the
    /// step time for large batches.
    F32,
}

/// The values of a tensor of any backend and float dtype, as f32.
fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .to_vec::<f32>()
        .expect("converted to f32")
}

/// The CUDA device a model lives on, or `None` when its backend is not
/// CubeCL's CUDA runtime.
pub fn cuda_ordinal<B: Backend>(model: &LanguageModel<B>) -> Option<usize> {
    let primitive: Box<dyn Any> = Box::new(model.norm_f.weight.val().into_primitive().tensor());
    let tensor = primitive.downcast::<CubeTensor<CudaRuntime>>().ok()?;
    Some(tensor.device.index)
}

/// The activations of one step, (batch, width) each.
pub(super) struct Scratch {
    /// The residual stream, ping-ponged between blocks: a block's product
    /// reads one while its first thread block writes the sum to the other.
    residual: [Buffer<f32>; 2],
    /// The normalised residual, where f32 products run on cuBLAS.
    normed: Buffer<f32>,
    xz: Buffer<f32>,
    u: Buffer<f32>,
    x_dbl: Buffer<f32>,
    y: Buffer<f32>,
    mixed: Buffer<f32>,
    logits: Buffer<f32>,
}

/// A block: its pre-norm weight and ε, and the mixer.
struct GpuBlock {
    norm: Buffer<f32>,
    eps: f32,
    mixer: GpuMixer,
}

/// A block's mixer on the device.
enum GpuMixer {
    Mamba(GpuMamba),
    Mamba2(GpuMamba2),
}

impl GpuMixer {
    /// Whether the decoder runs `mixer`: Mamba, and Mamba-2 without extra
    /// MLP channels in its in_proj.
    fn supports<B: Backend>(mixer: &Mixer<B>) -> bool {
        match mixer {
            Mixer::Mamba(_) => true,
            Mixer::Mamba2(m) => GpuMamba2::supports(m),
            _ => false,
        }
    }

    /// `mixer` on the device (one that [`Self::supports`]).
    fn new<B: Backend>(
        gpu: &Gpu,
        mixer: &Mixer<B>,
        format: WeightFormat,
        batch: usize,
    ) -> Result<Self> {
        match mixer {
            Mixer::Mamba(m) => GpuMamba::new(gpu, m, format, batch).map(Self::Mamba),
            Mixer::Mamba2(m) if GpuMamba2::supports(m) => {
                GpuMamba2::new(gpu, m, format, batch).map(Self::Mamba2)
            }
            _ => Err(Error::config(
                "mixer",
                "the fused GPU decoder runs Mamba and Mamba-2 blocks only",
            )),
        }
    }

    /// The widths of the scratch activations `xz`, `u` and `x_dbl` a step
    /// writes.
    fn widths(&self) -> (usize, usize, usize) {
        match self {
            Self::Mamba(m) => m.widths(),
            Self::Mamba2(m) => m.widths(),
        }
    }

    fn load_state<B: Backend>(&mut self, gpu: &Gpu, state: &MixerState<B>) -> Result<()> {
        match (self, state) {
            (Self::Mamba(m), MixerState::Mamba(s)) => m.load_state(gpu, s),
            (Self::Mamba2(m), MixerState::Mamba2(s)) => m.load_state(gpu, s),
            _ => Err(other_mixer_state()),
        }
    }

    fn warm_up(&self, gpu: &Gpu, s: &Scratch, batch: usize) -> Result<()> {
        match self {
            Self::Mamba(m) => m.warm_up(gpu, s, batch),
            Self::Mamba2(m) => m.warm_up(gpu, s, batch),
        }
    }

    fn step(&self, gpu: &Gpu, input: &NormInput<'_>, s: &Scratch, batch: usize) -> Result<()> {
        match self {
            Self::Mamba(m) => m.step(gpu, input, s, batch),
            Self::Mamba2(m) => m.step(gpu, input, s, batch),
        }
    }
}

/// The graphs of the two kinds of step, captured on first use.
#[derive(Default)]
struct Graphs {
    /// ids → logits.
    logits: Option<CudaGraph>,
    /// ids → logits → the most likely ids, written over the input ids.
    greedy: Option<CudaGraph>,
}

impl Graphs {
    /// The graph of a greedy step or of a logits step.
    fn slot(&mut self, greedy: bool) -> &mut Option<CudaGraph> {
        if greedy {
            &mut self.greedy
        } else {
            &mut self.logits
        }
    }
}

/// A Mamba or Mamba-2 language model decoding `batch` sequences on the GPU, one token
/// each per step, carrying their recurrent states between calls.
pub struct GpuDecoder {
    gpu: Gpu,
    /// (vocab, d_model), f32.
    embeddings: Buffer<f32>,
    blocks: Vec<GpuBlock>,
    norm_f: Buffer<f32>,
    eps_f: f32,
    /// (vocab, d_model): the head, or the embeddings when tied.
    head: GpuMatrix,
    d_model: usize,
    vocab: usize,
    batch: usize,
    scratch: Scratch,
    /// The current ids, (batch).
    tokens: Buffer<i32>,
    /// The logits of the last step, (batch, vocab), on the host.
    logits: Vec<f32>,
    use_graphs: bool,
    graphs: Graphs,
    /// Whether the products round their inputs to 16 bits.
    rounds_activations: bool,
}

impl GpuDecoder {
    /// The decoder of `model` (any backend: its weights are copied to CUDA
    /// device `ordinal`, the projections and head as `format`) for `batch`
    /// sequences from the zero state, its 16-bit products at large batches
    /// as `half`. `Ok(None)` when a block is neither Mamba nor Mamba-2
    /// without MLP channels (those models run their own recurrent view);
    /// an error when CUDA, its driver or NVRTC cannot run the kernels.
    pub fn new<B: Backend>(
        model: &LanguageModel<B>,
        format: WeightFormat,
        half: HalfProducts,
        batch: usize,
        ordinal: usize,
    ) -> Result<Option<Self>> {
        if batch == 0 {
            return Err(Error::config("batch", "must be at least 1"));
        }
        if !model.layers.iter().all(|b| GpuMixer::supports(&b.mixer)) {
            return Ok(None);
        }
        let mut gpu = Gpu::new(ordinal)?;
        let blocks = model
            .layers
            .iter()
            .map(|block| {
                Ok(GpuBlock {
                    norm: gpu.upload(&values(block.norm.weight.val()))?,
                    eps: block.norm.eps as f32,
                    mixer: GpuMixer::new(&gpu, &block.mixer, format, batch)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let embeddings = model.embeddings.weight.val();
        let [vocab, d_model] = embeddings.dims();
        let head = match &model.lm_head {
            Some(head) => head.weight.val(),
            None => embeddings.clone(),
        };
        let (xz, u, x_dbl) = blocks
            .iter()
            .map(|b| b.mixer.widths())
            .fold((1, 1, 1), |m, w| (m.0.max(w.0), m.1.max(w.1), m.2.max(w.2)));
        let on_blas = batch >= BLAS_MIN_BATCH
            && (format == WeightFormat::F32 || half == HalfProducts::TensorCores);
        if on_blas {
            // A product's input is the normalised residual or a (batch, u)
            // activation.
            gpu.use_blas(batch * d_model.max(u))?;
        }
        let scratch = Scratch {
            residual: [gpu.zeros(batch * d_model)?, gpu.zeros(batch * d_model)?],
            normed: gpu.zeros(batch * d_model)?,
            xz: gpu.zeros(batch * xz)?,
            u: gpu.zeros(batch * u)?,
            x_dbl: gpu.zeros(batch * x_dbl)?,
            y: gpu.zeros(batch * u)?,
            mixed: gpu.zeros(batch * d_model)?,
            logits: gpu.zeros(batch * vocab)?,
        };
        Ok(Some(Self {
            embeddings: gpu.upload(&values(embeddings))?,
            head: GpuMatrix::of(&gpu, head, format)?,
            norm_f: gpu.upload(&values(model.norm_f.weight.val()))?,
            eps_f: model.norm_f.eps as f32,
            tokens: gpu.zeros(batch)?,
            blocks,
            d_model,
            vocab,
            batch,
            scratch,
            logits: vec![0.0; batch * vocab],
            use_graphs: true,
            graphs: Graphs::default(),
            rounds_activations: on_blas && format != WeightFormat::F32,
            gpu,
        }))
    }

    /// Replays each step as a CUDA graph (the default) or, when `on` is
    /// false, launches its kernels one by one from the host.
    pub fn set_graphs(&mut self, on: bool) {
        self.use_graphs = on;
    }

    /// Sequences decoded together.
    pub fn batch(&self) -> usize {
        self.batch
    }

    /// Whether the products round their inputs to the weights' 16-bit
    /// format for tensor cores ([`HalfProducts::TensorCores`] at a batch
    /// that runs them on cuBLAS), so that the logits agree with the CPU
    /// decoder's to bf16 precision rather than f32's.
    pub fn rounds_activations(&self) -> bool {
        self.rounds_activations
    }

    /// Continues from `state` (of this decoder's batch), e.g. after a
    /// parallel prefill with [`LanguageModel::prefill`] on any backend.
    pub fn load_state<B: Backend>(&mut self, state: &LmState<B>) -> Result<()> {
        let states = layer_states(state, self.blocks.len())?;
        for (block, s) in self.blocks.iter_mut().zip(states) {
            block.mixer.load_state(&self.gpu, s)?;
        }
        self.gpu.synchronize()
    }

    /// Feeds one token per sequence and returns the logits of the next,
    /// (batch, vocab) row-major.
    pub fn step(&mut self, tokens: &[i64]) -> Result<&[f32]> {
        self.write_tokens(tokens)?;
        self.run(false)?;
        self.gpu.read(&self.scratch.logits, &mut self.logits)?;
        Ok(&self.logits)
    }

    /// Feeds `first` (one token per sequence) and `steps − 1` greedy
    /// choices after it, all on the device, and returns the ids chosen at
    /// the last step (batch): `steps` tokens per sequence for one wait.
    pub fn greedy(&mut self, first: &[i64], steps: usize) -> Result<Vec<i64>> {
        self.write_tokens(first)?;
        for _ in 0..steps {
            self.run(true)?;
        }
        let mut ids = vec![0i32; self.batch];
        self.gpu.read(&self.tokens, &mut ids)?;
        Ok(ids.into_iter().map(i64::from).collect())
    }

    /// Checks and uploads one id per sequence.
    fn write_tokens(&mut self, tokens: &[i64]) -> Result<()> {
        if tokens.len() != self.batch {
            return Err(Error::shape(
                "tokens (batch)",
                &[self.batch],
                &[tokens.len()],
            ));
        }
        let vocab = self.vocab;
        let ids = tokens
            .iter()
            .map(|&t| {
                i32::try_from(t)
                    .ok()
                    .filter(|&t| t >= 0 && (t as usize) < vocab)
                    .ok_or_else(|| {
                        Error::config(
                            "tokens",
                            format!("token ids must lie in 0..{vocab}, got {t}"),
                        )
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        self.gpu.write(&ids, &mut self.tokens)
    }

    /// Queues one step: by its graph (captured on first use) or kernel by
    /// kernel.
    fn run(&mut self, greedy: bool) -> Result<()> {
        if !self.use_graphs {
            return self.queue_step(greedy);
        }
        if self.graphs.slot(greedy).is_none() {
            if self.gpu.blas.is_some() {
                self.warm_up_blas()?;
            }
            let graph = self.gpu.capture(|| self.queue_step(greedy))?;
            *self.graphs.slot(greedy) = Some(graph);
        }
        self.graphs
            .slot(greedy)
            .as_ref()
            .expect("captured above")
            .launch()
            .map_err(|e| device::cuda_error("cannot replay the decode graph", e))
    }

    /// Runs every product once outside a graph (see [`GpuMamba::warm_up`]);
    /// the head writes the logits, which the caller has read by now.
    fn warm_up_blas(&self) -> Result<()> {
        let s = &self.scratch;
        for block in &self.blocks {
            block.mixer.warm_up(&self.gpu, s, self.batch)?;
        }
        self.head.apply(
            &self.gpu,
            &s.normed,
            self.d_model,
            &s.logits,
            self.vocab,
            self.batch,
        )?;
        self.gpu.synchronize()
    }

    /// Queues the kernels of one step: the ids in `tokens` → logits (and,
    /// when `greedy`, the most likely ids written over `tokens`).
    fn queue_step(&self, greedy: bool) -> Result<()> {
        let (s, gpu, batch, d) = (&self.scratch, &self.gpu, self.batch, self.d_model);
        gpu.launch(
            "embed",
            batch,
            256,
            &[
                self.embeddings.arg(),
                self.tokens.arg(),
                s.residual[0].arg(),
                Arg::size(d)?,
            ],
        )?;
        // Block i normalises residual[(i − 1) % 2] + the previous block's
        // output and writes that sum to residual[i % 2]; block 0 reads the
        // embeddings as they are.
        let input = |i: usize, weight, eps| NormInput {
            res_in: &s.residual[i.saturating_sub(1) % 2],
            add: (i > 0).then_some(&s.mixed),
            res_out: (i > 0 && i < self.blocks.len()).then_some(&s.residual[i % 2]),
            weight,
            eps,
            normed: &s.normed,
        };
        for (i, block) in self.blocks.iter().enumerate() {
            block
                .mixer
                .step(gpu, &input(i, &block.norm, block.eps), s, batch)?;
        }
        let last = input(self.blocks.len(), &self.norm_f, self.eps_f);
        self.head
            .apply_normed(gpu, &last, &s.logits, self.vocab, batch)?;
        if greedy {
            gpu.launch(
                "argmax",
                batch,
                1024,
                &[
                    s.logits.arg(),
                    self.tokens.arg(),
                    Arg::size(self.vocab)?,
                    Arg::size(self.vocab)?,
                ],
            )?;
        }
        Ok(())
    }
}
