//! One module per `ssm` subcommand, and their parts (`bench_*`, `train_*`).

pub mod bench;
pub mod bench_kernels;
pub mod bench_lm;
mod counts;
pub mod eval;
pub mod generate;
pub mod hippo;
pub mod info;
pub mod selftest;
pub mod train;
pub mod train_time_limit;
