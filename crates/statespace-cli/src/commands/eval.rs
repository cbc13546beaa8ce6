//! `ssm eval`: test metrics of a saved run, and the check that the
//! classifier run step by step (recurrent view) predicts as in convolution
//! mode.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use rand::SeedableRng;
use statespace::golden::rel_err;
use statespace::io::HostTensor;
use statespace::tasks::Split;
use statespace::train::checkpoint::load_model;
use statespace::train::data::collate;
use statespace::train::run::evaluate;
use statespace::train::{RunDir, TrainConfig};

use crate::device::{DeviceKind, with_backend};

/// Arguments of `ssm eval`.
#[derive(clap::Args)]
pub struct Args {
    /// Run folder written by `ssm train`.
    run: PathBuf,
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
    let run = RunDir::new(args.run.clone());
    let text = std::fs::read_to_string(run.config())
        .with_context(|| format!("reading {}", run.config().display()))?;
    let config = TrainConfig::from_toml(&text, &[])?;
    let path = match args.checkpoint.as_str() {
        "best" => run.best(),
        "last" => run.last(),
        other => anyhow::bail!("--checkpoint must be best or last, not `{other}`"),
    };
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
        println!(
            "test accuracy {accuracy:.4} (loss {loss:.4}) over {} examples, {} checkpoint",
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
        let (mut agree, mut worst) = (0usize, 0f64);
        for i in 0..n {
            let batch = collate::<B>(task.as_ref(), &[task.example(Split::Test, i)], &device);
            let conv =
                HostTensor::from_tensor(&model.forward(batch.inputs.clone(), batch.readout())?);
            let rec = HostTensor::from_tensor(
                &model.forward_recurrent(batch.inputs.clone(), batch.readout())?,
            );
            let classes = *conv.shape.last().unwrap_or(&1);
            let argmax = |v: &[f64]| {
                v.iter()
                    .enumerate()
                    .fold((0, f64::MIN), |a, (i, &x)| if x > a.1 { (i, x) } else { a })
                    .0
            };
            let equal = conv
                .data
                .chunks(classes)
                .zip(rec.data.chunks(classes))
                .all(|(c, r)| argmax(c) == argmax(r));
            agree += usize::from(equal);
            let (conv, rec) = (conv.data, rec.data);
            worst = worst.max(rel_err(&rec, &conv));
        }
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
