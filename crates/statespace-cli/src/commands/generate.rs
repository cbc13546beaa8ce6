//! `ssm generate`: text generation with a Mamba / Mamba-2 checkpoint.

use std::io::Write;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result, bail};
use statespace::generate::{Generator, Sampling};
use statespace::io::checkpoint::load;

use crate::device::{DeviceKind, with_backend};

/// Arguments of `ssm generate`.
#[derive(clap::Args)]
pub struct Args {
    /// Checkpoint folder (Hugging Face or state-spaces/mamba layout).
    #[arg(long)]
    model: PathBuf,
    /// The prompt.
    #[arg(long)]
    prompt: String,
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
    /// tokenizer.json.
    #[arg(long)]
    byte_level: bool,
    /// Prompt tokens per parallel prefill chunk.
    #[arg(long, default_value_t = 512)]
    prefill_chunk: usize,
    /// Device to run on.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceKind,
}

/// Text ↔ token ids.
enum Codec {
    Tokenizer(Box<tokenizers::Tokenizer>),
    Bytes,
}

impl Codec {
    fn for_folder(dir: &std::path::Path, byte_level: bool) -> Result<Self> {
        if byte_level {
            return Ok(Codec::Bytes);
        }
        let path = dir.join("tokenizer.json");
        if !path.is_file() {
            bail!(
                "{} has no tokenizer.json: pass --byte-level to use raw bytes as tokens",
                dir.display()
            );
        }
        let tok = tokenizers::Tokenizer::from_file(&path)
            .map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
        Ok(Codec::Tokenizer(Box::new(tok)))
    }

    fn encode(&self, text: &str) -> Result<Vec<i64>> {
        match self {
            Codec::Bytes => Ok(text.bytes().map(i64::from).collect()),
            Codec::Tokenizer(t) => Ok(t
                .encode(text, false)
                .map_err(|e| anyhow::anyhow!("tokenizing the prompt: {e}"))?
                .get_ids()
                .iter()
                .map(|&i| i as i64)
                .collect()),
        }
    }

    fn decode(&self, ids: &[i64]) -> String {
        match self {
            Codec::Bytes => String::from_utf8_lossy(
                &ids.iter()
                    .map(|&i| i.clamp(0, 255) as u8)
                    .collect::<Vec<_>>(),
            )
            .into_owned(),
            Codec::Tokenizer(t) => t
                .decode(&ids.iter().map(|&i| i as u32).collect::<Vec<_>>(), true)
                .unwrap_or_default(),
        }
    }
}

/// Runs `ssm generate`.
pub fn run(args: Args) -> Result<()> {
    let codec = Codec::for_folder(&args.model, args.byte_level)?;
    let prompt = codec.encode(&args.prompt)?;
    if prompt.is_empty() {
        bail!("the prompt encodes to no tokens");
    }
    let sampling = Sampling {
        temperature: args.temperature,
        top_k: args.top_k,
        top_p: args.top_p,
        repetition_penalty: args.repetition_penalty,
        seed: args.seed,
    };
    with_backend!(args.device, |B, device| {
        let start = Instant::now();
        let ckpt = load::<B>(&args.model, &device)
            .with_context(|| format!("loading {}", args.model.display()))?;
        if let Some(&bad) = prompt
            .iter()
            .find(|&&t| t as usize >= ckpt.model.vocab_size())
        {
            bail!(
                "prompt token {bad} is outside the model's vocabulary ({})",
                ckpt.model.vocab_size()
            );
        }
        let loaded = start.elapsed();
        let start = Instant::now();
        let mut generator =
            Generator::new(&ckpt.model, &prompt, sampling, args.prefill_chunk, &device)?;
        let prefill = start.elapsed();
        let mut out = std::io::stdout().lock();
        write!(out, "{}", args.prompt)?;
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
