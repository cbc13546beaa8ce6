//! Sequence (context) parallelism for language models: every rank holds a
//! replica of the model and one part of every sequence, consecutive
//! positions, rank 0 the first. The recurrent state crosses the parts'
//! boundaries as messages of the group ([`Collective::send_f32`]):
//!
//! - **forward**: each block's final state goes to the next rank, which
//!   starts the same block from it, so rank r runs block l as soon as rank
//!   r − 1 has finished it (a wavefront over ranks and blocks);
//! - **backward**: rank r's loss gets the term ⟨final state, G⟩ for each
//!   state it sent, where G is the gradient of the next rank's summed loss
//!   with respect to the state it started from, and rank r then sends the
//!   gradients of its own starting states back to rank r − 1. burn runs a
//!   graph's backward in one call, so the backward goes rank after rank
//!   from the last.
//!
//! Each rank's parameter gradients are then summed over the group as in
//! data parallelism (`data_parallel::all_reduce_grads`, weighted by the
//! rank's number of targets). The sum is the gradient one device gets for
//! the whole sequences, up to the order of the float sums. What the ranks
//! split is the activations' memory, which grows with the sequence length.
//! States travel through host memory.

use burn::tensor::backend::AutodiffBackend;
use burn::tensor::{Tensor, TensorData};

use super::collective::Collective;
use crate::error::Result;
use crate::models::{MixerState, StateCarry};
use crate::ops::support::primitive::with_dtype;

/// One rank's link to its neighbours in the chain of a sequence's parts,
/// for one training step: [`StateCarry`] for the forward pass, then
/// [`Chain::backward`].
pub struct Chain<'a, B: AutodiffBackend> {
    group: &'a dyn Collective,
    device: B::Device,
    /// The states received from the previous rank, per block, flattened:
    /// leaves of the graph, whose gradients go back to it.
    starts: Vec<Vec<Tensor<B, 1>>>,
    /// The states sent to the next rank, per block, flattened (in the
    /// graph).
    ends: Vec<Vec<Tensor<B, 1>>>,
}

impl<'a, B: AutodiffBackend> Chain<'a, B> {
    /// A fresh link of this rank of `group`, on `device`.
    pub fn new(group: &'a dyn Collective, device: &B::Device) -> Self {
        Self {
            group,
            device: device.clone(),
            starts: Vec::new(),
            ends: Vec::new(),
        }
    }

    fn is_first(&self) -> bool {
        self.group.rank() == 0
    }

    fn is_last(&self) -> bool {
        self.group.rank() + 1 == self.group.size()
    }

    /// The gradients of `loss`, this rank's mean loss over its `targets`
    /// targets, together with the later ranks' losses through the states
    /// this rank sent forward: first receives the next rank's state
    /// gradients (waiting for its backward), then sends this rank's to
    /// the previous one. The parameter gradients are those of this rank's
    /// summed loss and the later ranks' dependence on its states, divided
    /// by `targets`.
    pub fn backward(self, loss: Tensor<B, 1>, targets: usize) -> Result<B::Gradients> {
        let per_target = 1.0 / targets.max(1) as f64;
        let mut root = loss;
        if !self.is_last() {
            let next = self.group.rank() + 1;
            for end in self.ends.iter().flatten() {
                let n = end.dims()[0];
                let g = self.group.recv_f32(next, n)?;
                // In the loss's type: a 16-bit state (mixed precision)
                // meets the f32 gradient and loss here.
                let dtype = root.dtype();
                let g = Tensor::<B, 1>::from_data(TensorData::new(g, [n]), (&self.device, dtype));
                root = root + (with_dtype(end.clone(), dtype) * g).sum() * per_target;
            }
        }
        let grads = root.backward();
        if !self.is_first() {
            let previous = self.group.rank() - 1;
            for start in self.starts.iter().flatten() {
                // In units of the summed loss, as the previous rank adds it.
                let g = match start.grad(&grads) {
                    Some(g) => host_f32(g.mul_scalar(targets as f64)),
                    None => vec![0.0; start.dims()[0]],
                };
                self.group.send_f32(previous, &g)?;
            }
        }
        Ok(grads)
    }
}

impl<B: AutodiffBackend> StateCarry<B> for Chain<'_, B> {
    fn incoming(&mut self, zero: MixerState<B>) -> Result<MixerState<B>> {
        // Checked on every rank: a state that cannot be carried is an
        // error on the first rank too.
        let zeros = zero.flat_parts()?;
        if self.is_first() {
            return Ok(zero);
        }
        let previous = self.group.rank() - 1;
        let parts = zeros
            .iter()
            .map(|z| {
                let n = z.dims()[0];
                let values = self.group.recv_f32(previous, n)?;
                let data = TensorData::new(values, [n]);
                Ok(Tensor::<B, 1>::from_data(data, (&self.device, z.dtype())).require_grad())
            })
            .collect::<Result<Vec<_>>>()?;
        self.starts.push(parts.clone());
        zero.with_flat_parts(parts)
    }

    fn outgoing(&mut self, state: &MixerState<B>) -> Result<()> {
        if self.is_last() {
            return Ok(());
        }
        let next = self.group.rank() + 1;
        let parts = state.flat_parts()?;
        for part in &parts {
            self.group
                .send_f32(next, &host_f32(part.clone().detach()))?;
        }
        self.ends.push(parts);
        Ok(())
    }
}

/// A tensor's values on the host, as f32.
fn host_f32<B: burn::tensor::backend::Backend>(t: Tensor<B, 1>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .into_vec()
        .expect("converted to f32")
}
