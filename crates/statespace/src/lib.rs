//! # statespace
//!
//! Structured state space sequence models in Rust: HiPPO operators, S4 / S4D
//! convolution kernels and layers, and (in later modules) selective SSMs.
//!
//! The code follows the math: an SSM is initialised ([`hippo`]),
//! discretised ([`discretize`]), turned into a convolution kernel
//! ([`kernel`]), and wrapped as a layer ([`layers`]).
//!
//! On the CUDA backend, keep one model's work on one thread. Alternatively,
//! hand it to other threads with [`host_pool`], which keeps the caller's
//! stream. CubeCL gives every thread its own CUDA stream and memory pool.
//! A training run whose steps moved between threads fell to chance under
//! load (docs/ARCHITECTURE.md, "One stream per run").

pub mod decode;
pub mod error;
pub mod faults;
pub mod generate;
pub mod golden;
pub mod hippo;
pub mod host_pool;
pub mod io;

pub use error::{Error, Result};
pub mod complex;
pub mod discretize;
pub mod kernel;
pub mod layers;
pub mod models;
pub mod ops;
pub mod parity;
pub mod random;
pub mod size;
pub mod tasks;
pub mod text;
pub mod train;
