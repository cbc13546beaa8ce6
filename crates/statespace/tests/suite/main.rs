//! The library's integration tests, one module per subject, built as a single
//! test binary: each binary links the whole library and its dependencies
//! (50–80 MB in the dev profile) and instantiates the generic training code
//! again, so one binary keeps the clean build's disk and time small.
//! `cargo test -p statespace --test suite MODULE::` runs one subject.

mod common;

mod burn_patches;
mod cauchy_fused;
mod checkpoint_formats;
mod chimera_recurrence;
mod configs_parse;
mod data_parallel;
mod diagonal_kernel_fused;
mod digits;
mod dplr_spectrum_fused;
mod fashion_mnist;
mod fft_conv_fused;
mod forecast_train;
mod fuzz_regressions;
mod hippo_golden;
mod hippo_online;
mod hostile_checkpoints;
mod hostile_configs;
mod hydra_mamba3_bad_input;
mod kernels_golden;
mod layer_golden;
mod layering;
mod lm_golden;
mod lm_train;
mod mamba_views;
mod mambamixer_recurrence;
mod nplr_reconstruction;
mod ops_bad_input;
mod param_counts;
mod s4_bad_input;
mod s4_conv_semantics;
mod s4_golden;
mod selective_scan_golden;
mod selective_scan_properties;
mod sequence_parallel;
mod series_classification;
mod spacetime_golden;
mod ssd_golden;
mod ssd_properties;
mod step_tasks;
mod train_resume;
mod vandermonde_fused;
