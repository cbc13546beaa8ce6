//! One module per `ssm` subcommand.

pub mod generate;
pub mod hippo;
pub mod info;
pub mod selftest;
