//! One module per `ssm` subcommand.

pub mod bench;
pub mod bench_kernels;
pub mod bench_lm;
pub mod eval;
pub mod generate;
pub mod hippo;
pub mod info;
pub mod selftest;
pub mod train;
