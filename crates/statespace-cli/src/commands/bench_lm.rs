//! `ssm bench train-lm` and `ssm bench decode`: language-model training
//! throughput and batched greedy decoding of random-weight models of the
//! published 130m shapes.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use burn::backend::Autodiff;
use burn::optim::GradientsParams;
use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use statespace::decode::WeightFormat;
use statespace::models::Precision;
use statespace::ops::{SsmBackend, mean_cross_entropy};
use statespace::tasks::text::Windows;
use statespace::train::collective::Collective;
use statespace::train::data_parallel::all_reduce_grads;
use statespace::train::objective::{Shard, scaled};
use statespace::train::optim::{AdamW, OptimConfig, step};
use statespace::train::ranks::on_ranks;
use statespace::train::sequence_parallel::Chain;

use super::bench::{median, shapes};
use super::train::Split;
use crate::device::{DeviceKind, RankDevices, with_backend};
use crate::host_profile::HostProfile;

/// Arguments of `ssm bench train-lm`.
#[derive(clap::Args)]
pub struct TrainLmArgs {
    /// Which shape: mamba-130m or mamba2-130m.
    #[arg(long, default_value = "mamba-130m")]
    model: String,
    /// Sequences per step.
    #[arg(long, value_parser = super::counts::at_least_one, default_value_t = 8)]
    batch: usize,
    /// Tokens per sequence (at least 2: each predicts the next).
    #[arg(long, value_parser = super::counts::at_least_two, default_value_t = 1024)]
    len: usize,
    /// Timed steps (at least 1, after 2 warm-up steps); the median is reported.
    #[arg(long, value_parser = super::counts::at_least_one, default_value_t = 5)]
    steps: usize,
    /// Blocks (default: the published shape's 24); fewer for a quick run.
    #[arg(long, value_parser = super::counts::at_least_one)]
    layers: Option<usize>,
    /// Device to run on.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceKind,
    /// Ranks, each on its part of every step (`--split`), gradients summed
    /// through host memory: GPUs 0..N with `--device cuda`; threads sharing
    /// the cores with `--device cpu`. `--batch` stays the global batch.
    #[arg(long, value_name = "N", value_parser = super::counts::at_least_one, default_value_t = 1)]
    devices: usize,
    /// How `--devices` ranks split a step: parts of the batch or of every
    /// sequence.
    #[arg(long, value_enum, default_value = "batch")]
    split: Split,
    /// Arithmetic: f32, or bf16 / f16 mixers on f32 parameters
    /// (`optim.precision`; f16 with dynamic loss scaling).
    #[arg(long, value_enum, default_value = "f32")]
    precision: PrecisionArg,
    /// Writes a flamegraph (SVG) of the host's CPU time over the timed
    /// steps, every thread sampled: where a step bound by its launches
    /// spends its time. Builds with the `host-profile` feature only.
    #[arg(long, value_name = "FILE")]
    host_profile: Option<PathBuf>,
}

/// `--precision` of `ssm bench train-lm`.
#[derive(Clone, Copy, clap::ValueEnum)]
enum PrecisionArg {
    /// Everything in f32.
    F32,
    /// bf16 mixers and head on f32 master parameters.
    Bf16,
    /// f16 mixers and head on f32 master parameters, the loss scaled.
    F16,
}

impl From<PrecisionArg> for Precision {
    fn from(p: PrecisionArg) -> Self {
        match p {
            PrecisionArg::F32 => Precision::F32,
            PrecisionArg::Bf16 => Precision::Bf16,
            PrecisionArg::F16 => Precision::F16,
        }
    }
}

/// Arguments of `ssm bench decode`.
#[derive(clap::Args)]
pub struct DecodeArgs {
    /// Which shape: mamba-130m or mamba2-130m.
    #[arg(long, default_value = "mamba-130m")]
    model: String,
    /// Sequences decoded together.
    #[arg(long, value_parser = super::counts::at_least_one, default_value_t = 1)]
    batch: usize,
    /// Tokens decoded per sequence (after a one-token prompt and 4 warm-up steps).
    #[arg(long, value_parser = super::counts::at_least_one, default_value_t = 128)]
    tokens: usize,
    /// Blocks (default: the published shape's 24); fewer for a quick run.
    #[arg(long, value_parser = super::counts::at_least_one)]
    layers: Option<usize>,
    /// Device to run on.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceKind,
    /// How the fused GPU decoder stores its projections and head: f32,
    /// bf16 or f16 (CUDA only).
    #[arg(long, default_value = "f32")]
    weights: WeightFormat,
    /// On CUDA, launch the fused step's kernels one by one instead of
    /// replaying them as a CUDA graph.
    #[arg(long)]
    no_graphs: bool,
    /// On CUDA, run the model's own tensor ops layer by layer instead of
    /// the fused decoder.
    #[arg(long)]
    layered: bool,
    /// On CUDA with 16-bit --weights from 16 sequences on, keep the
    /// products' activations in f32 on the decoder's own kernels instead
    /// of rounding them to the weights' format for tensor-core GEMMs.
    #[arg(long)]
    f32_products: bool,
}

fn one_shape(model: &str, layers: Option<usize>) -> Result<statespace::models::LmConfig> {
    let mut found = shapes(model, layers)?;
    anyhow::ensure!(
        found.len() == 1,
        "pick one --model: mamba-130m or mamba2-130m"
    );
    Ok(found.remove(0).1)
}

/// Forward, next-token cross-entropy, backward and AdamW on random tokens,
/// on `--devices` ranks split as `--split` says; prints the global batch's
/// tokens per second.
pub fn train_lm(args: TrainLmArgs) -> Result<()> {
    let config = one_shape(&args.model, args.layers)?;
    let (batch, len) = (args.batch, args.len);
    let ranks = args.devices;
    if let Some(path) = &args.host_profile {
        HostProfile::check(path)?;
    }
    match args.split {
        Split::Batch if !batch.is_multiple_of(ranks) => {
            anyhow::bail!(
                "--batch {batch} does not split into {ranks} equal parts (one per device)"
            )
        }
        Split::Sequence if len < ranks => {
            anyhow::bail!("--len {len} does not split into {ranks} parts (one per device)")
        }
        _ => {}
    }
    let (times, transport) = with_backend!(args.device, |B, device| {
        let _ = device;
        let devices = <B as RankDevices>::rank_devices(ranks)?;
        let steps = |member: &dyn Collective, device: &_| {
            rank_steps::<Autodiff<B>>(&config, &args, batch, len, device, member)
        };
        let outcome = on_ranks(&devices, steps, steps);
        let transport = outcome.transport;
        Ok::<_, anyhow::Error>((outcome.into_lead()?, transport))
    })?;
    let queued = median(times.iter().map(|t| t.queued).collect());
    let median = median(times.iter().map(|t| t.step).collect());
    println!(
        "{{\"what\": \"train_lm\", \"model\": \"{}\", \"device\": \"{:?}\", \"devices\": {ranks}, \"split\": \"{}\", \"transport\": \"{}\", \"precision\": \"{}\", \"batch\": {batch}, \"len\": {len}, \"ms_per_step\": {:.1}, \"host_ms_per_step\": {:.1}, \"tokens_per_s\": {:.0}}}",
        args.model,
        args.device,
        match args.split {
            Split::Batch => "batch",
            Split::Sequence => "sequence",
        },
        transport.name(),
        Precision::from(args.precision).name(),
        median * 1e3,
        queued * 1e3,
        (batch * len) as f64 / median
    );
    Ok(())
}

/// One timed training step, in seconds from the barrier before it.
struct StepTime {
    /// To the end of its kernels.
    step: f64,
    /// To the point where the host has queued all of its work (before
    /// waiting for the device): a step whose `queued` is near `step` is
    /// bound by the host's launches, not by the GPU.
    queued: f64,
}

/// One rank's step times (after 2 warm-up steps): every rank draws the
/// same global batch of random tokens and computes the gradient of its
/// part (rows, or positions of every row), the gradients are summed over
/// `group`, and every rank takes the same AdamW step. A step is timed from
/// a barrier to the end of its kernels.
fn rank_steps<A>(
    config: &statespace::models::LmConfig,
    args: &TrainLmArgs,
    batch: usize,
    len: usize,
    device: &A::Device,
    group: &dyn Collective,
) -> statespace::Result<Vec<StepTime>>
where
    A: AutodiffBackend + SsmBackend,
    A::InnerBackend: SsmBackend,
{
    let precision = Precision::from(args.precision);
    let mut model = config
        .init::<A>(device, &mut ChaCha8Rng::seed_from_u64(1))?
        .with_precision(precision);
    let mut adam = AdamW::new(OptimConfig {
        precision,
        ..OptimConfig::default()
    });
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let shard = Shard {
        index: group.rank(),
        count: group.size(),
    };
    let mut times = Vec::with_capacity(args.steps);
    let mut profile = None;
    for s in 0..args.steps + 2 {
        if let (2, 0, Some(path)) = (s, group.rank(), &args.host_profile) {
            profile = Some(HostProfile::start(path).map_err(profile_error)?);
        }
        let ids: Vec<i64> = (0..batch * (len + 1))
            .map(|_| rng.random_range(0..config.vocab_size as i64))
            .collect();
        let rows = ids.chunks(len + 1);
        let whole = Windows {
            inputs: rows.clone().flat_map(|r| r[..len].to_vec()).collect(),
            targets: rows.flat_map(|r| r[1..].to_vec()).collect(),
            count: batch,
        };
        let part = match args.split {
            Split::Batch => {
                let range = shard.range(batch);
                Windows {
                    inputs: whole.inputs[range.start * len..range.end * len].to_vec(),
                    targets: whole.targets[range.start * len..range.end * len].to_vec(),
                    count: range.len(),
                }
            }
            Split::Sequence => whole.positions(shard.range(len))?,
        };
        group.all_reduce_sum(&mut [0.0])?;
        let start = Instant::now();
        let targets = part.targets.len();
        let labels =
            Tensor::<A, 1, Int>::from_data(TensorData::new(part.targets, [targets]), device);
        let grads = if group.size() > 1 && matches!(args.split, Split::Sequence) {
            let mut chain = Chain::<A>::new(group, device);
            let logits = model.forward_ids_carried(part.inputs, part.count, &mut chain)?;
            let loss = mean_cross_entropy(logits.reshape([targets, config.vocab_size]), labels)?;
            chain.backward(scaled(loss, adam.loss_factor()), targets)?
        } else {
            let logits = model.forward_ids(part.inputs, part.count)?;
            let loss = mean_cross_entropy(logits.reshape([targets, config.vocab_size]), labels)?;
            scaled(loss, adam.loss_factor()).backward()
        };
        let grads = GradientsParams::from_grads(grads, &model);
        let grads = all_reduce_grads::<A, _>(&model, grads, targets, group)?;
        model = step::<A, _>(&mut adam, model, &grads, 1.0).0;
        let queued = start.elapsed().as_secs_f64();
        // Wait for the step's kernels (GPU launches are asynchronous); a
        // failed kernel or collective is an error, not a time.
        A::sync(device).map_err(|e| statespace::Error::Numerical {
            what: "training step".into(),
            message: format!("the device failed: {e:?}"),
        })?;
        if s >= 2 {
            times.push(StepTime {
                step: start.elapsed().as_secs_f64(),
                queued,
            });
        }
    }
    if let Some(profile) = profile {
        profile.finish().map_err(profile_error)?;
    }
    Ok(times)
}

/// A host profiler's failure (no profiler in this build, or one that could
/// not start or write its file) as the library's error type, naming the
/// flag that asked for it.
fn profile_error(e: anyhow::Error) -> statespace::Error {
    statespace::Error::Config {
        key: "--host-profile".into(),
        message: format!("{e:#}"),
    }
}

/// Greedy decoding of `batch` sequences at once from a one-token prompt;
/// the tokens stay on the device until the end. Prints tokens per second
/// (all sequences together).
pub fn decode(args: DecodeArgs) -> Result<()> {
    let config = one_shape(&args.model, args.layers)?;
    let batch = args.batch;
    with_backend!(args.device, |B, device| {
        let model = config.init::<B>(
            &device,
            &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(2),
        )?;
        let first: Vec<i64> = (0..batch).map(|i| (i * 7919 % 50000) as i64).collect();
        let report = |path: &str, seconds: f64| {
            println!(
                "{{\"what\": \"decode\", \"model\": \"{}\", \"device\": \"{:?}\", \"path\": \"{path}\", \"weights\": \"{}\", \"batch\": {batch}, \"tokens\": {}, \"ms_per_step\": {:.3}, \"tokens_per_s\": {:.1}}}",
                args.model,
                args.device,
                args.weights,
                args.tokens,
                seconds * 1e3 / args.tokens as f64,
                (batch * args.tokens) as f64 / seconds
            );
        };
        #[cfg(feature = "cuda")]
        if !args.layered
            && let Some(ordinal) = statespace::decode::gpu::cuda_ordinal(&model)
            && let Some(mut gpu) = statespace::decode::gpu::GpuDecoder::new(
                &model,
                args.weights,
                if args.f32_products {
                    statespace::decode::gpu::HalfProducts::F32
                } else {
                    statespace::decode::gpu::HalfProducts::TensorCores
                },
                batch,
                ordinal,
            )?
        {
            gpu.set_graphs(!args.no_graphs);
            // Warm-up: compiles nothing more, captures the graph.
            let last = gpu.greedy(&first, 4)?;
            let start = Instant::now();
            gpu.greedy(&last, args.tokens)?;
            let path = format!(
                "fused{}{}",
                if args.no_graphs { "" } else { "+graph" },
                if args.f32_products {
                    " f32-products"
                } else {
                    ""
                }
            );
            report(&path, start.elapsed().as_secs_f64());
            return Ok::<_, anyhow::Error>(());
        }
        anyhow::ensure!(
            args.weights == WeightFormat::F32,
            "--weights {} needs the fused GPU decoder (Mamba blocks on --device cuda, without --layered)",
            args.weights
        );
        let mut tokens = Tensor::<B, 1, Int>::from_data(TensorData::new(first, [batch]), &device);
        let mut state = model.initial_state(batch)?;
        let mut run = |steps: usize, tokens: &mut Tensor<B, 1, Int>| -> Result<()> {
            for _ in 0..steps {
                let (logits, next) = model.step(&state, tokens.clone())?;
                state = next;
                *tokens = logits.argmax(1).reshape([batch]);
            }
            Ok(())
        };
        run(4, &mut tokens)?;
        let _ = tokens.to_data();
        let start = Instant::now();
        run(args.tokens, &mut tokens)?;
        let _ = tokens.to_data();
        report("layered", start.elapsed().as_secs_f64());
        Ok::<_, anyhow::Error>(())
    })
}
