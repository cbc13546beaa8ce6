//! `ssm info`: what a checkpoint folder holds.

use std::path::PathBuf;

use anyhow::{Context, Result};
use burn::module::Module;
use statespace::models::pretrained::load;

/// Arguments of `ssm info`.
#[derive(clap::Args)]
pub struct Args {
    /// Checkpoint folder (Hugging Face or state-spaces/mamba layout).
    dir: PathBuf,
}

/// Runs `ssm info`.
pub fn run(args: Args) -> Result<()> {
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
