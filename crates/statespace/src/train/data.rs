//! Batches of examples in a reproducible order: the k-th example of the
//! whole run is position k mod N of epoch ⌊k/N⌋'s permutation, which is a
//! pure function of (seed, epoch); a resumed run sees the same sequence.

use std::cell::RefCell;

use burn::tensor::backend::Backend;
use burn::tensor::{Int, Tensor, TensorData};
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

use super::objective::Shard;
use crate::models::classifier::{Inputs, Readout};
use crate::tasks::{Example, Split, Task};

/// A batch ready for the model.
pub struct Batch<B: Backend> {
    /// Inputs, padded to the longest sequence of the batch.
    pub inputs: Inputs<B>,
    /// Unpadded lengths.
    pub lengths: Vec<usize>,
    /// `(sequence, step)` of each target for step-target tasks, else `None`
    /// (one pooled target per sequence).
    pub steps: Option<Vec<(usize, usize)>>,
    /// Target classes, (N): one per sequence, or one per entry of `steps`.
    pub labels: Tensor<B, 1, Int>,
}

impl<B: Backend> Batch<B> {
    /// Where the model reads the outputs these labels belong to.
    pub fn readout(&self) -> Readout<'_> {
        match &self.steps {
            Some(steps) => Readout::Steps(steps),
            None => Readout::Pooled(&self.lengths),
        }
    }

    /// Number of targets.
    pub fn targets(&self) -> usize {
        self.labels.dims()[0]
    }
}

/// The permutation of 0..n that orders epoch `epoch`.
fn epoch_order(seed: u64, n: usize, epoch: usize) -> Vec<usize> {
    let mut perm: Vec<usize> = (0..n).collect();
    let mut rng = ChaCha8Rng::seed_from_u64(
        seed ^ 0xDA7A_0000 ^ (epoch as u64).wrapping_mul(0x2545_F491_4F6C_DD1D),
    );
    perm.shuffle(&mut rng);
    perm
}

/// An epoch order and its (seed, n, epoch) key.
type CachedOrder = Option<((u64, usize, usize), Vec<usize>)>;

thread_local! {
    /// The last epoch order drawn, keyed by (seed, n, epoch): consecutive
    /// steps reuse it instead of reshuffling (a pure cache).
    static ORDER: RefCell<CachedOrder> = const { RefCell::new(None) };
}

/// Example indices of training step `step` (1-based: step 0 has none and
/// is a caller's bug).
pub fn train_indices(seed: u64, n: usize, batch: usize, step: u64) -> Vec<usize> {
    let first = (step - 1) as usize * batch;
    ORDER.with_borrow_mut(|cache| {
        (first..first + batch)
            .map(|k| {
                let key = (seed, n, k / n);
                if cache.as_ref().is_none_or(|(c, _)| *c != key) {
                    *cache = Some((key, epoch_order(seed, n, key.2)));
                }
                cache.as_ref().expect("filled above").1[k % n]
            })
            .collect()
    })
}

/// Collates `examples` into a batch on `device`.
///
/// # Panics
/// If `examples` is empty (a config's `schedule.batch_size` is validated
/// to be at least 1 before any batch is drawn).
pub fn collate<B: Backend>(task: &dyn Task, examples: &[Example], device: &B::Device) -> Batch<B> {
    let batch = examples.len();
    let len = examples.iter().map(Example::len).max().unwrap_or(1).max(1);
    let lengths: Vec<usize> = examples.iter().map(|e| e.len().max(1)).collect();
    let (steps, labels): (Option<Vec<(usize, usize)>>, Vec<i64>) = match &examples[0] {
        Example::Steps { .. } => {
            let mut steps = Vec::new();
            let mut labels = Vec::new();
            for (b, e) in examples.iter().enumerate() {
                if let Example::Steps { targets, .. } = e {
                    for &(t, class) in targets {
                        steps.push((b, t));
                        labels.push(class);
                    }
                }
            }
            (Some(steps), labels)
        }
        _ => (None, examples.iter().filter_map(Example::label).collect()),
    };
    let n = labels.len();
    let inputs = match &examples[0] {
        Example::Tokens { .. } | Example::Steps { .. } => {
            let mut ids = vec![task.pad(); batch * len];
            for (row, e) in ids.chunks_mut(len).zip(examples) {
                if let Example::Tokens { tokens, .. } | Example::Steps { tokens, .. } = e {
                    row[..tokens.len()].copy_from_slice(tokens);
                }
            }
            Inputs::Tokens(Tensor::from_data(
                TensorData::new(ids, [batch, len]),
                device,
            ))
        }
        Example::Values {
            values, len: l0, ..
        } => {
            let channels = values.len() / (*l0).max(1);
            let mut data = vec![0f32; batch * len * channels];
            for (row, e) in data.chunks_mut(len * channels).zip(examples) {
                if let Example::Values { values, .. } = e {
                    row[..values.len()].copy_from_slice(values);
                }
            }
            Inputs::Values(Tensor::from_data(
                TensorData::new(data, [batch, len, channels]),
                device,
            ))
        }
    };
    Batch {
        inputs,
        lengths,
        steps,
        labels: Tensor::from_data(TensorData::new(labels, [n]), device),
    }
}

/// The examples of `shard` of a training step, generated in parallel (a
/// task's generator can cost more than the step: Pathfinder draws 6 ms a
/// 32×32 image), in the run's order.
pub fn train_examples(
    task: &dyn Task,
    seed: u64,
    batch: usize,
    step: u64,
    shard: Shard,
) -> Vec<Example> {
    let n = task.size(Split::Train);
    train_indices(seed, n, batch, step)[shard.range(batch)]
        .par_iter()
        .map(|&i| task.example(Split::Train, i))
        .collect()
}

/// The batch of a training step on `device`: [`train_examples`], collated.
///
/// # Panics
/// If `batch` is 0 ([`collate`]).
pub fn train_batch<B: Backend>(
    task: &dyn Task,
    seed: u64,
    batch: usize,
    step: u64,
    device: &B::Device,
) -> Batch<B> {
    collate(
        task,
        &train_examples(task, seed, batch, step, Shard::WHOLE),
        device,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_order_is_a_permutation_per_epoch_and_stable() {
        let n = 10;
        let epoch: Vec<usize> = (1..=5).flat_map(|s| train_indices(7, n, 2, s)).collect();
        let mut sorted = epoch.clone();
        sorted.sort();
        assert_eq!(sorted, (0..n).collect::<Vec<_>>());
        assert_eq!(train_indices(7, n, 2, 3), train_indices(7, n, 2, 3));
        assert_ne!(train_indices(7, n, 10, 1), train_indices(7, n, 10, 2));
    }
}
