//! `ssm`: the statespace command-line tool.

mod commands;
mod device;
mod host_profile;
mod panics;
mod plot;

use clap::{Parser, Subcommand};

/// mimalloc (built without transparent huge pages), not glibc malloc: a
/// training step frees and allocates the same megabyte-sized buffers every
/// step, which glibc hands back to the kernel and page-faults in again.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Structured state space sequence models: HiPPO, S4, S4D, Mamba, Mamba-2.
#[derive(Parser)]
#[command(name = "ssm", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Online function approximation with a HiPPO operator: project a signal
    /// onto the measure's basis as it streams in, reconstruct it, plot both.
    Hippo(commands::hippo::Args),
    /// Train a deep SSM classifier on a task (default: a small S4D on ListOps).
    Train(commands::train::Args),
    /// Test metrics of a run, and recurrent-mode predictions checked against convolution mode.
    Eval(commands::eval::Args),
    /// Speed benchmarks (JSON lines).
    #[command(subcommand)]
    Bench(commands::bench::Bench),
    /// Generate text with a Mamba / Mamba-2 checkpoint (recurrent decoding).
    Generate(commands::generate::Args),
    /// Describe a checkpoint folder: layout, architecture, parameter count.
    Info(commands::info::Args),
    /// Run the golden reference cases (SSM_GOLDEN_DIR) on a device and
    /// compare with the official implementations' outputs.
    Selftest(commands::selftest::Args),
}

fn main() -> std::process::ExitCode {
    #[cfg(feature = "cuda")]
    if std::env::var_os("NCCL_RUNTIME_CONNECT").is_none() {
        // NCCL connects every peer when the communicators are made, so no
        // later call waits for the other ranks on the host, where a failed
        // rank's abort cannot reach it (ops::cuda_libs::nccl).
        // SAFETY: no other thread runs yet to read the environment.
        unsafe { std::env::set_var("NCCL_RUNTIME_CONNECT", "0") };
    }
    let cli = Cli::parse();
    let result = panics::catch(|| match cli.command {
        Command::Hippo(args) => commands::hippo::run(args),
        Command::Selftest(args) => commands::selftest::run(args),
        Command::Generate(args) => commands::generate::run(args),
        Command::Bench(bench) => commands::bench::run(bench),
        Command::Train(args) => commands::train::run(args),
        Command::Eval(args) => commands::eval::run(args),
        Command::Info(args) => commands::info::run(args),
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
