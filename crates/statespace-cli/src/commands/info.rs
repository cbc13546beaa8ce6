//! `ssm info`: what a checkpoint folder or a training run holds.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use burn::module::Module;
use statespace::io::safetensors::SafetensorsFile;
use statespace::models::pretrained::load;
use statespace::train::checkpoint;
use statespace::train::run::read_metrics;
use statespace::train::{RunDir, TrainConfig};

/// Arguments of `ssm info`.
#[derive(clap::Args)]
pub struct Args {
    /// Checkpoint folder (Hugging Face or state-spaces/mamba layout), or a
    /// training run folder (`runs/NAME`, with its config.toml).
    dir: PathBuf,
}

/// Runs `ssm info`.
pub fn run(args: Args) -> Result<()> {
    if RunDir::new(&args.dir).config().is_file() {
        return run_folder(&args.dir);
    }
    type B = burn::backend::Flex;
    let ckpt = load::<B>(&args.dir, &Default::default())
        .with_context(|| format!("loading {}", args.dir.display()))?;
    let c = &ckpt.config;
    println!("folder:       {}", args.dir.display());
    println!("layout:       {}", ckpt.layout);
    let mixer = &c.mixer;
    println!("architecture: {} layers of {mixer}", c.n_layer);
    println!("d_model:      {}", c.d_model());
    println!(
        "vocabulary:   {} (embedding rows {})",
        ckpt.vocab_size, c.vocab_size
    );
    println!(
        "head:         {}",
        if c.tie_embeddings {
            "tied to the embeddings"
        } else {
            "separate lm_head"
        }
    );
    println!("parameters:   {}", ckpt.model.num_params());
    Ok(())
}

/// A training run: its task and model, the parameters and step of its last
/// checkpoint, and its latest validation and test rows.
fn run_folder(dir: &Path) -> Result<()> {
    let run = RunDir::new(dir);
    let text = std::fs::read_to_string(run.config())
        .with_context(|| format!("reading {}", run.config().display()))?;
    let config = TrainConfig::from_toml(&text, &[])
        .with_context(|| format!("in {}", run.config().display()))?;
    let task: toml::Table = text.parse().context("config.toml")?;
    let kind = task
        .get("task")
        .and_then(|t| t.get("kind"))
        .and_then(toml::Value::as_str)
        .unwrap_or("?");
    let m = &config.model;
    println!("folder:       {}", dir.display());
    println!("layout:       statespace training run");
    println!("task:         {kind}");
    println!(
        "model:        {} blocks of {:?}, d_model {}",
        m.n_layers, m.mixer, m.d_model
    );
    let last = run.last();
    if last.is_file() {
        let info = checkpoint::info(&last)?;
        let file = SafetensorsFile::open(&last)?;
        let mut params = 0;
        for name in file.names().iter().filter(|n| n.starts_with("model.")) {
            params += file.shape(name)?.iter().product::<usize>();
        }
        println!("parameters:   {params}");
        println!(
            "steps:        {} of {} (last checkpoint)",
            info.step, config.schedule.steps
        );
    } else {
        println!("steps:        none yet (no checkpoint)");
    }
    if run.metrics().is_file() {
        let header = std::fs::read_to_string(run.metrics())?;
        let columns: Vec<&str> = header
            .lines()
            .next()
            .unwrap_or("")
            .split(',')
            .skip(2)
            .take(2)
            .collect();
        let rows = read_metrics(&run.metrics())?;
        for split in ["val", "test"] {
            if let (Some(row), [first, second]) = (
                rows.iter().rev().find(|r| r.split == split),
                columns.as_slice(),
            ) {
                println!(
                    "last {split:<5}   step {}: {first} {:.4}, {second} {:.4}",
                    row.step, row.loss, row.metric
                );
            }
        }
    }
    Ok(())
}
