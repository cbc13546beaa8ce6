//! One module per `ssm` subcommand.

pub mod hippo;
pub mod selftest;
