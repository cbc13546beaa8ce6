//! `ssm generate`: text generation with a Mamba / Mamba-2 checkpoint, or
//! with the language model of an `ssm train` run (`task.kind = "lm"`).

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use statespace::decode::WeightFormat;
use statespace::generate::{Generator, Sampling};
use statespace::models::LanguageModel;
use statespace::models::pretrained::load;
use statespace::ops::SsmBackend;
use statespace::tasks::TaskConfig;
use statespace::text::{Codec, check_prompt};
use statespace::train::checkpoint::load_model;
use statespace::train::lm::model_config;
use statespace::train::{RunDir, TrainConfig};

use crate::device::{DeviceKind, with_backend};

/// Arguments of `ssm generate`.
#[derive(clap::Args)]
pub struct Args {
    /// Checkpoint folder (Hugging Face or state-spaces/mamba layout).
    #[arg(long, required_unless_present = "run", conflicts_with = "run")]
    model: Option<PathBuf>,
    /// A language-modelling run of `ssm train` (its best checkpoint, and
    /// its tokenizer or bytes as its task read the corpus).
    #[arg(long, value_name = "RUN_DIR")]
    run: Option<PathBuf>,
    /// The prompt.
    #[arg(
        long,
        required_unless_present = "prompt_file",
        conflicts_with = "prompt_file"
    )]
    prompt: Option<String>,
    /// A file holding the prompt (UTF-8), for prompts longer than a command
    /// line takes.
    #[arg(long, value_name = "FILE")]
    prompt_file: Option<PathBuf>,
    /// Tokens to generate.
    #[arg(long, default_value_t = 64)]
    max_tokens: usize,
    /// Softmax temperature (0 = greedy).
    #[arg(long, default_value_t = 0.0)]
    temperature: f64,
    /// Sample among the k most likely tokens.
    #[arg(long)]
    top_k: Option<usize>,
    /// Sample from the smallest set of tokens with probability ≥ p.
    #[arg(long)]
    top_p: Option<f64>,
    /// Penalty for tokens already seen (1 = off).
    #[arg(long, default_value_t = 1.0)]
    repetition_penalty: f64,
    /// Sampler seed.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Treat text as raw bytes (token = byte) instead of using the folder's
    /// tokenizer.json (a run's task says which it read).
    #[arg(long)]
    byte_level: bool,
    /// Prompt tokens per parallel prefill chunk.
    #[arg(long, value_parser = super::counts::at_least_one, default_value_t = 512)]
    prefill_chunk: usize,
    /// How the CPU decoder stores the projection matrices: f32, or bf16 /
    /// f16 (half the bytes per token; exact for a checkpoint saved in that
    /// format, rounded otherwise). The arithmetic is f32 either way.
    #[arg(long, default_value = "f32")]
    weights: WeightFormat,
    /// Device to run on.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceKind,
}

/// Runs `ssm generate`.
pub fn run(args: Args) -> Result<()> {
    let text = match (&args.prompt, &args.prompt_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => {
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            String::from_utf8(bytes)
                .with_context(|| format!("{}: the prompt is not UTF-8 text", path.display()))?
        }
        (None, None) => bail!("give --prompt or --prompt-file"),
    };
    let sampling = Sampling {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        repetition_penalty: args.repetition_penalty,
        seed: args.seed,
    };
    with_backend!(args.device, |B, device| {
        let start = Instant::now();
        let (model, vocab, codec) = match (&args.model, &args.run) {
            (Some(dir), _) => {
                let codec = Codec::for_folder(dir, args.byte_level)?;
                let ckpt = load::<B>(dir, &device)
                    .with_context(|| format!("loading {}", dir.display()))?;
                (ckpt.model, ckpt.vocab_size, codec)
            }
            (None, Some(dir)) => trained::<B>(dir, &device)?,
            (None, None) => bail!("give --model or --run"),
        };
        let prompt = codec.encode(&text)?;
        check_prompt(&prompt, vocab)?;
        let loaded = start.elapsed();
        let start = Instant::now();
        let mut generator = Generator::with_weights(
            &model,
            &prompt,
            sampling,
            args.prefill_chunk,
            args.weights,
            &device,
        )?
        .with_vocabulary(vocab)?;
        let prefill = start.elapsed();
        let mut out = std::io::stdout().lock();
        write!(out, "{text}")?;
        let mut shown = codec.decode(&prompt);
        let start = Instant::now();
        for _ in 0..args.max_tokens {
            generator.next_token()?;
            let text = codec.decode(generator.tokens());
            if let Some(new) = text.strip_prefix(shown.as_str()) {
                write!(out, "{new}")?;
                out.flush()?;
                shown = text;
            }
        }
        let decode = start.elapsed();
        writeln!(out)?;
        eprintln!(
            "loaded in {:.2} s; prefill {} tokens in {:.3} s ({:.0} tok/s); decoded {} tokens at {:.1} tok/s",
            loaded.as_secs_f64(),
            prompt.len(),
            prefill.as_secs_f64(),
            prompt.len() as f64 / prefill.as_secs_f64(),
            args.max_tokens,
            args.max_tokens as f64 / decode.as_secs_f64().max(1e-9)
        );
        Ok(())
    })
}

/// The language model of run `dir` (its best checkpoint), its vocabulary
/// and its codec: the task's tokenizer, or bytes.
fn trained<B: SsmBackend>(
    dir: &std::path::Path,
    device: &B::Device,
) -> Result<(LanguageModel<B>, usize, Codec)> {
    let run = RunDir::new(dir.to_path_buf());
    let toml = std::fs::read_to_string(run.config())
        .with_context(|| format!("reading {}", run.config().display()))?;
    let config = TrainConfig::from_toml(&toml, &[])?;
    let TaskConfig::Lm(task) = &config.task else {
        bail!(
            "{} is not a language-modelling run (task.kind = \"lm\"): `ssm eval --run` evaluates it",
            dir.display()
        );
    };
    let codec = match &task.tokenizer {
        Some(path) => Codec::from_tokenizer_json(
            &std::fs::read(path).with_context(|| format!("reading {}", path.display()))?,
        )?,
        None => Codec::Bytes,
    };
    let lm = model_config(&config)?;
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
    let model = load_model(&run.best(), lm.init::<B>(device, &mut rng)?)
        .with_context(|| format!("loading {}", run.best().display()))?;
    Ok((model, lm.vocab_size, codec))
}
