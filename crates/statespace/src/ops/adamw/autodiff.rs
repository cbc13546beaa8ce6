//! The optimizer step under autodiff: not differentiated, so the autodiff
//! backend runs the trait's defaults, the reference composites.

use burn::tensor::backend::Backend;
use burn_autodiff::Autodiff;
use burn_autodiff::checkpoint::strategy::CheckpointStrategy;

use super::AdamWOps;

impl<B: Backend, C: CheckpointStrategy> AdamWOps for Autodiff<B, C> {}
