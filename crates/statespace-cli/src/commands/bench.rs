//! `ssm bench`: speed measurements printed as JSON lines.

use std::time::Instant;

use anyhow::{Context, Result, bail};
use burn::backend::Autodiff;
use burn::module::Module;
use burn::optim::GradientsParams;
use clap::Subcommand;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use statespace::decode::WeightFormat;
use statespace::generate::{Generator, Sampling};
use statespace::host_pool::on_pool;
use statespace::layers::mamba::MambaConfig;
use statespace::layers::mamba2::Mamba2Config;
use statespace::layers::mamba3::Mamba3Config;
use statespace::models::classifier::InputKind;
use statespace::models::{LmConfig, MixerConfig};
use statespace::tasks::{Example, Split, Task, example_rng};
use statespace::train::classify::cross_entropy;
use statespace::train::config::MixerKind;
use statespace::train::data::train_batch;
use statespace::train::forecast::Forecasting;
use statespace::train::objective::{Objective, Shard};
use statespace::train::optim::{AdamW, OptimConfig, step};
use statespace::train::{ModelConfig, TrainConfig};

use crate::device::{DeviceKind, with_backend};

/// What to benchmark.
#[derive(Subcommand)]
pub enum Bench {
    /// Prefill and decode speed of random-weight models of the mamba-130m
    /// and mamba2-130m shapes and that shape with Mamba-3 (SISO, MIMO), batch 1.
    Generate(GenerateArgs),
    /// Training steps per second of a classifier (forward, cross-entropy,
    /// backward, AdamW) on random token batches of a fixed shape.
    Train(TrainArgs),
    /// Training steps per second of a forecasting config (its windows,
    /// model and loss, backward, AdamW), e.g. configs/etth1-spacetime.toml.
    Forecast(ForecastArgs),
    /// Language-model training steps (next-token cross-entropy, AdamW) of a
    /// random-weight model of the mamba-130m or mamba2-130m shape.
    TrainLm(super::bench_lm::TrainLmArgs),
    /// Batched greedy decoding of a random-weight model of the mamba-130m
    /// or mamba2-130m shape.
    Decode(super::bench_lm::DecodeArgs),
    /// The SSM ops alone (selective scan, SSD, FFT convolution) at the
    /// shapes of the peer benchmark script.
    Kernels(super::bench_kernels::KernelArgs),
}

/// Arguments of `ssm bench train`.
#[derive(clap::Args)]
pub struct TrainArgs {
    /// Mixer: s4, s4d, mamba, mamba2, mamba3, hydra, s5, h3, hyena or long_conv.
    #[arg(long, default_value = "s4d")]
    mixer: String,
    /// Sequences per step.
    #[arg(long, value_parser = super::counts::at_least_one, default_value_t = 32)]
    batch: usize,
    /// Sequence length.
    #[arg(long, value_parser = super::counts::at_least_one, default_value_t = 200)]
    len: usize,
    /// Model width.
    #[arg(long, value_parser = super::counts::at_least_one, default_value_t = 64)]
    d_model: usize,
    /// Blocks.
    #[arg(long, default_value_t = 4)]
    layers: usize,
    /// Timed steps (at least 1, after 3 warm-up steps); the median is reported.
    #[arg(long, value_parser = super::counts::at_least_one, default_value_t = 20)]
    steps: usize,
    /// Device to run on.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceKind,
}

/// Arguments of `ssm bench forecast`.
#[derive(clap::Args)]
pub struct ForecastArgs {
    /// A `forecast` run configuration (TOML).
    #[arg(long)]
    config: std::path::PathBuf,
    /// Override a config value, e.g. `--set task.horizon=720` (repeatable).
    #[arg(long = "set", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Timed steps (at least 1, after 3 warm-up steps); the median is reported.
    #[arg(long, value_parser = super::counts::at_least_one, default_value_t = 10)]
    steps: usize,
    /// Device to run on.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceKind,
}

/// Random tokens (vocabulary 16, 10 classes) of one fixed length: the
/// shape of the ListOps benchmark without its variable lengths.
struct RandomTokens {
    len: usize,
}

impl Task for RandomTokens {
    fn name(&self) -> &str {
        "random_tokens"
    }
    fn input(&self) -> InputKind {
        InputKind::Tokens { vocab: 16 }
    }
    fn classes(&self) -> usize {
        10
    }
    fn max_len(&self) -> usize {
        self.len
    }
    fn size(&self, _split: Split) -> usize {
        1 << 20
    }
    fn example(&self, split: Split, index: usize) -> Example {
        let mut rng = example_rng(0, split, index);
        Example::Tokens {
            tokens: (0..self.len).map(|_| rng.random_range(1..16)).collect(),
            label: rng.random_range(0..10),
        }
    }
}

/// Arguments of `ssm bench generate`.
#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Which shape: mamba-130m, mamba2-130m, mamba3-130m, mamba3-mimo-130m,
    /// both (Mamba and Mamba-2) or all.
    #[arg(long, default_value = "all")]
    model: String,
    /// Prompt length for the prefill measurement.
    #[arg(long, value_parser = super::counts::at_least_one, default_value_t = 512)]
    prompt: usize,
    /// Tokens decoded for the decode measurement.
    #[arg(long, value_parser = super::counts::at_least_one, default_value_t = 128)]
    decode: usize,
    /// Also decode this many tokens and report the resident memory after
    /// 1k tokens and at the end (0 = skip).
    #[arg(long, default_value_t = 0)]
    rss_tokens: usize,
    /// Blocks (default: the published shape's 24); fewer for a quick run.
    #[arg(long, value_parser = super::counts::at_least_one)]
    layers: Option<usize>,
    /// How the fused CPU decoder stores its projection matrices: f32,
    /// bf16 or f16 (f32 arithmetic either way).
    #[arg(long, default_value = "f32")]
    weights: WeightFormat,
    /// Device to run on.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceKind,
}

/// The configurations of the published 130m checkpoints (mamba-130m,
/// mamba2-130m), and that shape with a Mamba-3 mixer of mamba_ssm's default
/// hyperparameters, SISO (`mamba3-130m`) or MIMO of rank 4
/// (`mamba3-mimo-130m`; no 130m Mamba-3 checkpoint is published); with
/// `layers` blocks instead of 24 where given. `which` is one name, `both`
/// (Mamba and Mamba-2) or `all`.
pub(super) fn shapes(which: &str, layers: Option<usize>) -> Result<Vec<(&'static str, LmConfig)>> {
    let n_layer = layers.unwrap_or(24);
    let lm = |mixer| LmConfig {
        vocab_size: 50280,
        n_layer,
        mixer,
        norm_eps: 1e-5,
        tie_embeddings: true,
    };
    let all = [
        ("mamba-130m", lm(MixerConfig::Mamba(MambaConfig::new(768)))),
        (
            "mamba2-130m",
            lm(MixerConfig::Mamba2(Mamba2Config::new(768))),
        ),
        (
            "mamba3-130m",
            lm(MixerConfig::Mamba3(Mamba3Config::new(768))),
        ),
        (
            "mamba3-mimo-130m",
            lm(MixerConfig::Mamba3(Mamba3Config {
                is_mimo: true,
                mimo_rank: 4,
                ..Mamba3Config::new(768)
            })),
        ),
    ];
    let picked: Vec<_> = match which {
        "all" => all.to_vec(),
        "both" => all[..2].to_vec(),
        one => all
            .iter()
            .filter(|(name, _)| *name == one)
            .cloned()
            .collect(),
    };
    if picked.is_empty() {
        bail!(
            "unknown --model `{which}` (mamba-130m, mamba2-130m, mamba3-130m, mamba3-mimo-130m, both or all)"
        );
    }
    Ok(picked)
}

/// Resident set size of this process in MiB (Linux).
fn rss_mib() -> Option<f64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: f64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096.0 / (1024.0 * 1024.0))
}

/// The median of a non-empty list of timings.
pub(super) fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(f64::total_cmp);
    times[times.len() / 2]
}

/// Runs `ssm bench ...`.
pub fn run(bench: Bench) -> Result<()> {
    match bench {
        Bench::Generate(args) => generate(args),
        Bench::Train(args) => train_steps(args),
        Bench::Forecast(args) => forecast_steps(args),
        Bench::Kernels(args) => super::bench_kernels::run(args),
        Bench::TrainLm(args) => super::bench_lm::train_lm(args),
        Bench::Decode(args) => super::bench_lm::decode(args),
    }
}

fn train_steps(args: TrainArgs) -> Result<()> {
    let mixer: MixerKind = toml::Value::String(args.mixer.clone())
        .try_into()
        .map_err(|_| {
            anyhow::anyhow!(
                "unknown --mixer `{}` (s4, s4d, mamba, mamba2, mamba3, hydra, s5, h3, hyena or long_conv)",
                args.mixer
            )
        })?;
    let model = ModelConfig {
        mixer,
        d_model: args.d_model,
        n_layers: args.layers,
        ..ModelConfig::default()
    };
    let task = RandomTokens { len: args.len };
    let classifier = model.classifier(&task)?;
    let optim = OptimConfig::default();
    with_backend!(args.device, |B, device| {
        type A = Autodiff<B>;
        let mut rng = ChaCha8Rng::seed_from_u64(0);
        let mut net = classifier.init::<A>(&device, &mut rng)?;
        let mut adam = AdamW::new(optim.clone());
        let mut times = Vec::with_capacity(args.steps);
        for s in 0..args.steps + 3 {
            let start = Instant::now();
            net = on_pool(|| -> Result<_> {
                let batch = train_batch::<A>(&task, 0, args.batch, s as u64 + 1, &device);
                let logits = net.forward(batch.inputs.clone(), batch.readout())?;
                let (loss, _) = cross_entropy(logits, batch.labels)?;
                let grads = GradientsParams::from_grads(loss.backward(), &net);
                Ok(step::<A, _>(&mut adam, net, &grads, 1.0).0)
            })?;
            // Wait for the step's kernels (GPU launches are asynchronous).
            let _ = <A as burn::tensor::backend::Backend>::sync(&device);
            if s >= 3 {
                times.push(start.elapsed().as_secs_f64());
            }
        }
        let median = median(times);
        println!(
            "{{\"what\": \"train_step\", \"mixer\": \"{}\", \"device\": \"{:?}\", \"batch\": {}, \"len\": {}, \"d_model\": {}, \"layers\": {}, \"params\": {}, \"ms_per_step\": {:.1}, \"steps_per_s\": {:.2}, \"threads\": {}}}",
            args.mixer,
            args.device,
            args.batch,
            task.len,
            args.d_model,
            args.layers,
            net.num_params(),
            median * 1e3,
            1.0 / median,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        Ok::<_, anyhow::Error>(())
    })
}

fn forecast_steps(args: ForecastArgs) -> Result<()> {
    let text = std::fs::read_to_string(&args.config)
        .with_context(|| format!("reading {}", args.config.display()))?;
    let config = TrainConfig::from_toml(&text, &args.overrides)
        .with_context(|| format!("in {}", args.config.display()))?;
    let objective = Forecasting::new(&config)?;
    let data = objective.data();
    with_backend!(args.device, |B, device| {
        type A = Autodiff<B>;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
        let mut net = Objective::<A>::init(&objective, &device, &mut rng)?;
        let mut adam = AdamW::new(config.optim.clone());
        let mut times = Vec::with_capacity(args.steps);
        for s in 0..args.steps + 3 {
            let start = Instant::now();
            let windows =
                Objective::<A>::prepare(&objective, config.seed, s as u64 + 1, Shard::WHOLE)?;
            let (loss, _) = objective.train_step(&net, windows, &device)?;
            let grads = GradientsParams::from_grads(loss.backward(), &net);
            net = step::<A, _>(&mut adam, net, &grads, 1.0).0;
            // Wait for the step's kernels (GPU launches are asynchronous).
            let _ = <A as burn::tensor::backend::Backend>::sync(&device);
            if s >= 3 {
                times.push(start.elapsed().as_secs_f64());
            }
        }
        let median = median(times);
        println!(
            "{{\"what\": \"forecast_step\", \"mixer\": \"{:?}\", \"device\": \"{:?}\", \"batch\": {}, \"lag\": {}, \"horizon\": {}, \"variates\": {}, \"d_model\": {}, \"layers\": {}, \"params\": {}, \"ms_per_step\": {:.1}, \"steps_per_s\": {:.2}, \"threads\": {}}}",
            config.model.mixer,
            args.device,
            config.schedule.batch_size,
            data.lag(),
            data.horizon(),
            data.input_channels(),
            config.model.d_model,
            config.model.n_layers,
            net.num_params(),
            median * 1e3,
            1.0 / median,
            std::thread::available_parallelism().map_or(1, |n| n.get())
        );
        Ok::<_, anyhow::Error>(())
    })
}

fn generate(args: GenerateArgs) -> Result<()> {
    for (name, config) in shapes(&args.model, args.layers)? {
        with_backend!(args.device, |B, device| {
            let model = config.init::<B>(
                &device,
                &mut <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1),
            )?;
            let prompt: Vec<i64> = (0..args.prompt)
                .map(|i| (i * 7919 % 50000) as i64)
                .collect();
            // Warm-up: one short prefill and a few steps.
            let mut warm = Generator::with_weights(
                &model,
                &prompt[..8.min(prompt.len())],
                Sampling::default(),
                512,
                args.weights,
                &device,
            )?;
            for _ in 0..4 {
                warm.next_token()?;
            }
            // The fused decoder's 16-bit copy is made once per generator
            // (the prefill below makes it again and includes its cost).
            let start = Instant::now();
            drop(statespace::decode::FusedDecoder::with_weights(
                &model,
                args.weights,
            ));
            let build = start.elapsed().as_secs_f64();
            let start = Instant::now();
            let mut generator = Generator::with_weights(
                &model,
                &prompt,
                Sampling::default(),
                512,
                args.weights,
                &device,
            )?;
            let prefill = start.elapsed().as_secs_f64();
            let start = Instant::now();
            for _ in 0..args.decode {
                generator.next_token()?;
            }
            let decode = start.elapsed().as_secs_f64();
            println!(
                "{{\"what\": \"generate\", \"model\": \"{name}\", \"device\": \"{:?}\", \"weights\": \"{}\", \"batch\": 1, \"prompt\": {}, \"decoder_build_s\": {:.3}, \"prefill_tok_s\": {:.1}, \"decode_tokens\": {}, \"decode_tok_s\": {:.2}, \"threads\": {}}}",
                args.device,
                args.weights,
                prompt.len(),
                build,
                prompt.len() as f64 / prefill,
                args.decode,
                args.decode as f64 / decode,
                std::thread::available_parallelism().map_or(1, |n| n.get())
            );
            if args.rss_tokens > 0 {
                let mut generator = Generator::with_weights(
                    &model,
                    &prompt[..1],
                    Sampling::default(),
                    512,
                    args.weights,
                    &device,
                )?;
                let mut at_1k = None;
                for i in 0..args.rss_tokens {
                    generator.next_token()?;
                    if i + 1 == 1000 {
                        at_1k = rss_mib();
                    }
                }
                println!(
                    "{{\"what\": \"generate_rss\", \"model\": \"{name}\", \"rss_mib_at_1k\": {:.1}, \"tokens\": {}, \"rss_mib_at_end\": {:.1}}}",
                    at_1k.unwrap_or(f64::NAN),
                    args.rss_tokens,
                    rss_mib().unwrap_or(f64::NAN)
                );
            }
            Ok::<_, anyhow::Error>(())
        })?;
    }
    Ok(())
}
