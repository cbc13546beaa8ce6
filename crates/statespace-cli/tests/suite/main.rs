//! The `ssm` binary's integration tests, built as one test binary (each links
//! the whole library; see the library's `tests/suite`).
//! `cargo test -p statespace-cli --test suite MODULE::` runs one subject.

mod cli;
mod crash_safety;
mod mamba3_checkpoint;
