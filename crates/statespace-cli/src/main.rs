//! `ssm`: the statespace command-line tool.

use clap::Parser;

/// Structured state space sequence models.
#[derive(Parser)]
#[command(name = "ssm", version, about)]
struct Cli {}

fn main() -> anyhow::Result<()> {
    let _cli = Cli::parse();
    Ok(())
}
