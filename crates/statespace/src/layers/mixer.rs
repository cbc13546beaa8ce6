//! What the recurrent mixers share: one `run` over a chunk from an
//! optional state gives all three views of the layer.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::error::{Error, Result};

/// A sequence mixer with a recurrent state (Mamba, Mamba-2). Implementors
/// write [`Self::run`]; the parallel, chunked and recurrent views follow
/// from it and are therefore equal by construction.
pub trait StatefulMixer<B: Backend> {
    /// The recurrent state carried between chunks.
    type State: Clone;

    /// Width of the input and output, d_model.
    fn d_model(&self) -> usize;

    /// The zero state for `batch` sequences.
    fn initial_state(&self, batch: usize) -> Self::State;

    /// h (B, L, d_model) continued from `state` (`None`: from the zero
    /// state, the parallel path) → (y (B, L, d_model), the state after the
    /// last step). Fails on an input or state of the wrong shape.
    fn run(
        &self,
        h: Tensor<B, 3>,
        state: Option<Self::State>,
    ) -> Result<(Tensor<B, 3>, Self::State)>;

    /// The parallel view: h (B, L, d_model) → (B, L, d_model).
    fn forward(&self, h: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        Ok(self.run(h, None)?.0)
    }

    /// The chunked view: continues from `state`; equal to one pass over
    /// the concatenated chunks.
    fn forward_with_state(
        &self,
        state: &Self::State,
        h: Tensor<B, 3>,
    ) -> Result<(Tensor<B, 3>, Self::State)> {
        self.run(h, Some(state.clone()))
    }

    /// The recurrent view: one token h (B, d_model) → (B, d_model).
    fn step(&self, state: &Self::State, h: Tensor<B, 2>) -> Result<(Tensor<B, 2>, Self::State)> {
        let (y, next) = self.run(h.unsqueeze_dim::<3>(1), Some(state.clone()))?;
        Ok((y.squeeze_dim::<2>(1), next))
    }

    /// Fails unless an input of `dims` (B, L, ·) is d_model wide.
    fn check_input(&self, dims: [usize; 3]) -> Result<()> {
        let [batch, len, width] = dims;
        if width != self.d_model() {
            return Err(Error::shape(
                "input (batch, length, d_model)",
                &[batch, len, self.d_model()],
                &dims,
            ));
        }
        Ok(())
    }
}
