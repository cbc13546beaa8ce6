//! `ssm eval`: test metrics of a saved run; for a classifier, the check
//! that it run step by step (recurrent view) predicts as in convolution
//! mode; for a forecaster, forecast-vs-truth plots of test windows.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use indicatif::{ProgressBar, ProgressStyle};
use rand::SeedableRng;
use statespace::golden::rel_err;
use statespace::io::HostTensor;
use statespace::models::pretrained::load;
use statespace::tasks::{Split, TaskConfig};
use statespace::text::{Codec, check_prompt};
use statespace::train::checkpoint::load_model;
use statespace::train::classify::evaluate;
use statespace::train::data::collate;
use statespace::train::forecast::Forecasting;
use statespace::train::lm::LanguageModeling;
use statespace::train::objective::Shard;
use statespace::train::{RunDir, TrainConfig};

use crate::device::{DeviceKind, with_backend};
use crate::plot::{Series, line_chart};

/// Arguments of `ssm eval`.
#[derive(clap::Args)]
pub struct Args {
    /// Run folder written by `ssm train`.
    #[arg(required_unless_present = "model", conflicts_with = "model")]
    run: Option<PathBuf>,
    /// With a run: override a value of the run's config for this evaluation
    /// (repeatable), e.g. `--set task.test_length=65536` to test length
    /// extrapolation. Keys that change the model's shape fail to load.
    #[arg(long = "set", value_name = "KEY=VALUE", requires = "run")]
    overrides: Vec<String>,
    /// Instead of a run: a language-model checkpoint folder (Hugging Face or
    /// state-spaces layout) whose perplexity on `--text` is reported.
    #[arg(long, requires = "text")]
    model: Option<PathBuf>,
    /// The text `--model` is scored on (UTF-8; any bytes with --byte-level).
    #[arg(long, value_name = "FILE", requires = "model")]
    text: Option<PathBuf>,
    /// With --model: bytes are tokens, instead of the folder's tokenizer.json.
    #[arg(long)]
    byte_level: bool,
    /// With --model: tokens per chunk; the recurrent state carries over
    /// between chunks, so every token is scored with its whole history.
    #[arg(long, default_value_t = 2048)]
    chunk: usize,
    /// Which checkpoint: best or last.
    #[arg(long, default_value = "best")]
    checkpoint: String,
    /// Test examples compared between the convolution and recurrent views.
    #[arg(long, default_value_t = 32)]
    recurrent_examples: usize,
    /// Device to run on.
    #[arg(long, value_enum, default_value = "cpu")]
    device: DeviceKind,
}

/// The largest norm-relative logit difference between the recurrent and the
/// convolution view that `ssm eval` accepts (f32 over long sequences).
const RECURRENT_TOLERANCE: f64 = 1e-3;

/// Runs `ssm eval`.
pub fn run(args: Args) -> Result<()> {
    let Some(run) = args.run.clone() else {
        return eval_text(&args);
    };
    let run = RunDir::new(run);
    let text = std::fs::read_to_string(run.config())
        .with_context(|| format!("reading {}", run.config().display()))?;
    let config = TrainConfig::from_toml(&text, &args.overrides)?;
    let path = match args.checkpoint.as_str() {
        "best" => run.best(),
        "last" => run.last(),
        other => anyhow::bail!("--checkpoint must be best or last, not `{other}`"),
    };
    if matches!(config.task, TaskConfig::Forecast(_)) {
        return eval_forecast(&args, &run, &config, &path);
    }
    if matches!(config.task, TaskConfig::Lm(_)) {
        return eval_lm(&args, &config, &path);
    }
    let task = config.task.build()?;
    let model_config = config.model.classifier(task.as_ref())?;
    with_backend!(args.device, |B, device| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
        let model = load_model(&path, model_config.init::<B>(&device, &mut rng)?)
            .with_context(|| format!("loading {}", path.display()))?;
        let (loss, accuracy) = evaluate(
            &model,
            task.as_ref(),
            Split::Test,
            config.schedule.batch_size,
            &device,
        )?;
        let with = if args.overrides.is_empty() {
            String::new()
        } else {
            format!(" with {}", args.overrides.join(" "))
        };
        println!(
            "test accuracy {accuracy:.4} (loss {loss:.4}) over {} examples, {} checkpoint{with}",
            task.size(Split::Test),
            args.checkpoint
        );
        if !config.model.classifier(task.as_ref())?.mixer.is_causal() {
            println!(
                "recurrent check skipped: a bidirectional model (bidirectional S4, Hydra) has no recurrent view"
            );
            return Ok::<_, anyhow::Error>(());
        }
        let n = args.recurrent_examples.min(task.size(Split::Test));
        if n == 0 {
            println!("recurrent check skipped (--recurrent-examples 0)");
            return Ok::<_, anyhow::Error>(());
        }
        // Batches of the run's batch size, step by step: on a GPU at long
        // sequence lengths this is the slow part of `ssm eval`, so it shows
        // progress. Each example is compared on its own rows of logits.
        eprintln!(
            "recurrent check: {n} test examples run step by step and compared with convolution mode (--recurrent-examples 0 skips it)"
        );
        let bar = ProgressBar::new(n as u64);
        bar.set_style(
            ProgressStyle::with_template(
                "{bar:30.cyan/blue} {pos}/{len} examples [{elapsed_precise} < {eta_precise}]",
            )
            .expect("valid template"),
        );
        let argmax = |v: &[f64]| {
            v.iter()
                .enumerate()
                .fold((0, f64::MIN), |a, (i, &x)| if x > a.1 { (i, x) } else { a })
                .0
        };
        let (mut agree, mut worst) = (0usize, 0f64);
        let per_batch = config.schedule.batch_size.max(1);
        for first in (0..n).step_by(per_batch) {
            let examples: Vec<_> = (first..(first + per_batch).min(n))
                .map(|i| task.example(Split::Test, i))
                .collect();
            let batch = collate::<B>(task.as_ref(), &examples, &device);
            let conv =
                HostTensor::from_tensor(&model.forward(batch.inputs.clone(), batch.readout())?);
            let rec = HostTensor::from_tensor(
                &model.forward_recurrent(batch.inputs.clone(), batch.readout())?,
            );
            let classes = *conv.shape.last().unwrap_or(&1);
            // The example each row of logits belongs to: one row per
            // example, or one per target step, in example order.
            let owners: Vec<usize> = match &batch.steps {
                Some(steps) => steps.iter().map(|&(b, _)| b).collect(),
                None => (0..examples.len()).collect(),
            };
            // Each example's rows of both views, gathered in one pass.
            let mut per_example = vec![(Vec::new(), Vec::new()); examples.len()];
            for ((c, r), &owner) in conv
                .data
                .chunks(classes)
                .zip(rec.data.chunks(classes))
                .zip(&owners)
            {
                per_example[owner].0.extend_from_slice(c);
                per_example[owner].1.extend_from_slice(r);
            }
            for (conv_e, rec_e) in &per_example {
                let equal = conv_e
                    .chunks(classes)
                    .zip(rec_e.chunks(classes))
                    .all(|(c, r)| argmax(c) == argmax(r));
                agree += usize::from(equal);
                worst = worst.max(rel_err(rec_e, conv_e));
            }
            bar.inc(examples.len() as u64);
        }
        bar.finish_and_clear();
        println!(
            "recurrent view: {agree}/{n} predictions equal to convolution mode; largest logit difference {worst:.2e} (norm-relative)"
        );
        // The two views compute the same function; equal predictions alone
        // would pass NaN logits (whose argmax is 0 on both sides).
        if worst.is_nan() || worst > RECURRENT_TOLERANCE {
            bail!(
                "the recurrent view disagrees with the convolution view: {agree}/{n} equal \
                 predictions, logit difference {worst:.2e} (tolerance {RECURRENT_TOLERANCE:.0e})"
            );
        }
        Ok(())
    })
}

/// Test windows drawn as forecast-vs-truth plots.
const PLOTTED_WINDOWS: usize = 3;

/// `ssm eval` of a forecasting run: test MSE / MAE and plots of the first,
/// middle and last test windows (target channel, in the data's units).
/// `ssm eval --model DIR --text FILE`: the checkpoint's perplexity on the
/// text, every token scored with its whole history (chunks carrying the
/// recurrent state), over all rows of its head.
fn eval_text(args: &Args) -> Result<()> {
    let (Some(dir), Some(path)) = (&args.model, &args.text) else {
        bail!("give a run folder, or --model DIR with --text FILE");
    };
    let codec = Codec::for_folder(dir, args.byte_level)?;
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    let ids: Vec<i64> = match (&codec, std::str::from_utf8(&bytes)) {
        (Codec::Bytes, _) => bytes.iter().map(|&b| i64::from(b)).collect(),
        (Codec::Tokenizer(_), Ok(text)) => codec.encode(text)?,
        (Codec::Tokenizer(_), Err(e)) => bail!(
            "{}: not UTF-8 (at byte {}), which the tokenizer needs; --byte-level scores raw bytes",
            path.display(),
            e.valid_up_to()
        ),
    };
    with_backend!(args.device, |B, device| {
        let ckpt = load::<B>(dir, &device).with_context(|| format!("loading {}", dir.display()))?;
        check_prompt(&ids, ckpt.vocab_size).context("the text's tokens")?;
        let (nats, targets) = ckpt.model.sequence_nll(&ids, args.chunk)?;
        let per_token = nats / targets as f64;
        println!(
            "{}: {targets} tokens scored, {per_token:.6} nats per token, perplexity {:.4}, {:.4} bits per byte",
            path.display(),
            per_token.exp(),
            nats / std::f64::consts::LN_2 / bytes.len() as f64
        );
        Ok::<_, anyhow::Error>(())
    })
}

/// `ssm eval` of a language-modelling run: nats per token and bits per
/// byte on the test span.
fn eval_lm(args: &Args, config: &TrainConfig, path: &std::path::Path) -> Result<()> {
    let objective = LanguageModeling::new(config)?;
    with_backend!(args.device, |B, device| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
        let model = load_model(path, objective.model().init::<B>(&device, &mut rng)?)
            .with_context(|| format!("loading {}", path.display()))?;
        let tally = objective.evaluate_split(&model, Split::Test, Shard::WHOLE, &device)?;
        let (nats, bpb) = tally.means();
        println!(
            "test bits per byte {bpb:.4} (loss {nats:.4} nats per token, perplexity {:.2}) over {} tokens, {} checkpoint",
            nats.exp(),
            tally.count,
            args.checkpoint
        );
        Ok::<_, anyhow::Error>(())
    })
}

fn eval_forecast(
    args: &Args,
    run: &RunDir,
    config: &TrainConfig,
    path: &std::path::Path,
) -> Result<()> {
    let objective = Forecasting::new(config)?;
    let data = objective.data();
    with_backend!(args.device, |B, device| {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(config.seed);
        let model = load_model(path, objective.model().init::<B>(&device, &mut rng)?)
            .with_context(|| format!("loading {}", path.display()))?;
        let (mse, mae) = objective
            .evaluate_split(&model, Split::Test, Shard::WHOLE, &device)?
            .means();
        let n = data.windows(Split::Test);
        println!(
            "test mse {mse:.4}  mae {mae:.4} (standardised scale) over {n} windows, {} checkpoint",
            args.checkpoint
        );
        let (p_mse, p_mae) = data.persistence(Split::Test);
        println!(
            "persistence (the last input repeated): test mse {p_mse:.4}  mae {p_mae:.4} over the same windows"
        );
        let (lag, horizon) = (data.lag(), data.horizon());
        let (c_in, c_out) = (data.input_channels(), data.target_channels());
        let (mean, std) = data.scale();
        // The target among the outputs: the only one (S, MS) or its channel (M).
        let out_target = if c_out == 1 { 0 } else { data.target() };
        let unit = |v: f64| v * std[out_target] + mean[out_target];
        let picks: Vec<usize> = (0..PLOTTED_WINDOWS)
            .map(|i| i * (n - 1) / (PLOTTED_WINDOWS - 1).max(1))
            .collect();
        for &index in &picks {
            let batch = objective.windows::<B>(Split::Test, &[index], &device);
            let forecast = HostTensor::from_tensor(&objective.predict(&model, batch.x)?.forecast);
            let window = data.window(Split::Test, index);
            let history: Vec<(f64, f64)> = (0..lag)
                .map(|t| (t as f64, unit(window.inputs[t * c_in + data.target()])))
                .collect();
            let at = |values: &[f64]| -> Vec<(f64, f64)> {
                (0..horizon)
                    .map(|t| ((lag + t) as f64, unit(values[t * c_out + out_target])))
                    .collect()
            };
            let file = run.dir.join(format!("forecast-test-{index}.png"));
            line_chart(
                &file,
                &format!("test window {index}: forecast of {horizon} steps from {lag}"),
                "step",
                "value",
                &[
                    Series {
                        label: "history",
                        points: history,
                        color: plotters::style::RGBColor(120, 120, 120),
                    },
                    Series {
                        label: "truth",
                        points: at(&window.targets),
                        color: plotters::style::RGBColor(40, 90, 200),
                    },
                    Series {
                        label: "forecast",
                        points: at(&forecast.data),
                        color: plotters::style::RGBColor(220, 60, 40),
                    },
                ],
            )?;
            println!("wrote {}", file.display());
        }
        Ok::<_, anyhow::Error>(())
    })
}
