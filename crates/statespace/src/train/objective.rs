//! What a training run optimises, apart from the loop that runs it: the
//! model, a training step's loss, and the two numbers a split is judged by
//! (cross-entropy and accuracy for classification, MSE and MAE for
//! forecasting).

use burn::module::AutodiffModule;
use burn::optim::GradientsParams;
use burn::tensor::Tensor;
use burn::tensor::backend::{AutodiffBackend, Backend};
use rand_chacha::ChaCha8Rng;

use super::collective::Collective;
use crate::error::Result;
use crate::tasks::Split;

/// Which validation rows count as better.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Goal {
    /// A higher second column (accuracy).
    MaxMetric,
    /// A lower first column (MSE).
    MinLoss,
}

impl Goal {
    /// The score of a row: higher is better.
    pub fn score(self, loss: f64, metric: f64) -> f64 {
        match self {
            Goal::MaxMetric => metric,
            Goal::MinLoss => -loss,
        }
    }
}

/// Sums over the targets of some batches: the first column's sum, the
/// second's, and the number of targets they average over.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Tally {
    /// Sum of the first column (loss, or squared error).
    pub loss: f64,
    /// Sum of the second column (correct predictions, or absolute error).
    pub metric: f64,
    /// Targets summed over.
    pub count: usize,
}

impl Tally {
    /// Adds `other`.
    pub fn add(&mut self, other: Tally) {
        self.loss += other.loss;
        self.metric += other.metric;
        self.count += other.count;
    }

    /// The two means.
    pub fn means(&self) -> (f64, f64) {
        let n = self.count.max(1) as f64;
        (self.loss / n, self.metric / n)
    }
}

/// Pending parts of a [`PendingTally`] that are gathered into one.
pub const COMPACT_AT: usize = 32;

/// Sums over the targets of some batches kept on the device, read into a
/// [`Tally`] only when a number is needed: a read waits for every kernel
/// queued before it, so the training loop reads at logging and evaluation
/// points, not once per step. Each batch's two sums stay on the device
/// unadded until the read, which gathers them in one transfer and adds them
/// on the host in f64 (the precision of the per-step reads it replaces).
///
/// The batches' sums are gathered into one tensor whenever
/// [`COMPACT_AT`] parts are pending: a tally that held one tensor per step
/// kept thousands of tiny allocations alive between evaluations, and
/// CubeCL's sliced memory pool walks every slice of every page on each
/// allocation, so the ListOps loop slowed through each evaluation interval
/// (GPU busy 85 % after an evaluation, 27–42 % before the next; docs/
/// BENCHMARKS.md, "The training loop").
#[derive(Debug, Clone)]
pub struct PendingTally<B: Backend> {
    /// The batches' sums of the two columns in batch order, each part
    /// (2·k) for the k batches gathered in it.
    parts: Vec<Tensor<B, 1>>,
    /// Targets summed over.
    count: usize,
}

impl<B: Backend> Default for PendingTally<B> {
    fn default() -> Self {
        Self {
            parts: Vec::new(),
            count: 0,
        }
    }
}

impl<B: Backend> PendingTally<B> {
    /// One batch's sums: `sums` (2) holds the first column's sum and the
    /// second's over `count` targets.
    pub fn new(sums: Tensor<B, 1>, count: usize) -> Self {
        debug_assert_eq!(sums.dims(), [2], "a tally holds two sums");
        Self {
            parts: vec![sums],
            count,
        }
    }

    /// Adds `other`: its batches join this one's, gathered into one part
    /// (one device copy, no read) once [`COMPACT_AT`] parts are pending.
    pub fn add(&mut self, other: PendingTally<B>) {
        self.count += other.count;
        self.parts.extend(other.parts);
        if self.parts.len() >= COMPACT_AT {
            self.parts = vec![Tensor::cat(std::mem::take(&mut self.parts), 0)];
        }
    }

    /// Targets summed over.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Whether no batch was added.
    pub fn is_empty(&self) -> bool {
        self.parts.is_empty()
    }

    /// The sums on the host (one read, which waits for the device).
    pub fn read(self) -> Tally {
        if self.parts.is_empty() {
            return Tally::default();
        }
        let values: Vec<f64> = Tensor::cat(self.parts, 0)
            .into_data()
            .iter::<f64>()
            .collect();
        let (loss, metric) = values
            .chunks_exact(2)
            .fold((0.0, 0.0), |(l, m), pair| (l + pair[0], m + pair[1]));
        Tally {
            loss,
            metric,
            count: self.count,
        }
    }
}

impl<B: AutodiffBackend> PendingTally<B> {
    /// The same sums on the inner backend (they carry no gradient).
    pub fn inner(self) -> PendingTally<B::InnerBackend> {
        PendingTally {
            parts: self.parts.into_iter().map(|s| s.detach().inner()).collect(),
            count: self.count,
        }
    }
}

/// How the ranks of a parallel run split a training step's examples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Parallelism {
    /// Each rank takes a part of the batch: whole examples.
    #[default]
    Data,
    /// Each rank takes a part of every sequence (consecutive positions) and
    /// the recurrent state passes between ranks: language models whose
    /// mixer is Mamba, Mamba-2, Mamba-3 or S5 (`sequence_parallel`).
    Sequence,
}

/// Which part of a training step's examples a rank computes: part `index`
/// of `count` consecutive parts of the global batch (data parallelism,
/// where the parts are equal) or of every sequence (sequence parallelism,
/// where their lengths differ by at most one).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// This part, 0-based.
    pub index: usize,
    /// Number of parts (ranks).
    pub count: usize,
}

impl Shard {
    /// The whole batch (a single-device run).
    pub const WHOLE: Shard = Shard { index: 0, count: 1 };

    /// The positions of this part of `n` items: consecutive, the parts'
    /// sizes differing by at most one (equal when `count` divides `n`).
    pub fn range(self, n: usize) -> std::ops::Range<usize> {
        self.index * n / self.count..(self.index + 1) * n / self.count
    }
}

/// A task and its model, as the training loop sees them.
///
/// A training step is split in two so that the loop can make the next
/// batch on another thread while the device runs the current step:
/// [`Objective::prepare`] draws a step's examples on the host, and
/// [`Objective::train_step`] moves them to the device and runs the model.
pub trait Objective<B: AutodiffBackend>: Sync {
    /// The trained model.
    type Model: AutodiffModule<B> + Clone;
    /// The names of the two metric columns, e.g. `["loss", "accuracy"]`.
    fn columns(&self) -> [&'static str; 2];
    /// How validation rows are compared.
    fn goal(&self) -> Goal;
    /// A freshly initialised model.
    fn init(&self, device: &B::Device, rng: &mut ChaCha8Rng) -> Result<Self::Model>;
    /// A training step's examples, on the host.
    type Batch: Send;
    /// The examples of `shard` of training step `step` (1-based; drawn by
    /// `seed`): a pure function of the three, whichever thread calls it.
    fn prepare(&self, seed: u64, step: u64, shard: Shard) -> Result<Self::Batch>;
    /// The loss of a training batch and its tally, still on the device.
    fn train_step(
        &self,
        model: &Self::Model,
        batch: Self::Batch,
        device: &B::Device,
    ) -> Result<(Tensor<B, 1>, PendingTally<B::InnerBackend>)>;
    /// The gradients of a training batch's loss times `loss_scale` (1, or
    /// f16's dynamic loss scale) — this rank's part of the step, in `group`
    /// — and its tally: by default [`Objective::train_step`]'s loss through
    /// one backward pass. Objectives whose ranks exchange more than the
    /// loop's sum of gradients (sequence parallelism) do that exchange here.
    fn gradients(
        &self,
        model: &Self::Model,
        batch: Self::Batch,
        device: &B::Device,
        group: &dyn Collective,
        loss_scale: f64,
    ) -> Result<(GradientsParams, PendingTally<B::InnerBackend>)> {
        let _ = group;
        backward_of(self, model, batch, device, loss_scale)
    }
    /// The tally of `shard`'s part of a split, without gradients
    /// ([`Shard::WHOLE`]: the whole split).
    fn evaluate(
        &self,
        model: &<Self::Model as AutodiffModule<B>>::InnerModule,
        split: Split,
        shard: Shard,
        device: &B::Device,
    ) -> Result<Tally>;
}

/// The default [`Objective::gradients`]: the gradients of
/// [`Objective::train_step`]'s loss times `loss_scale`, by one backward
/// pass.
pub fn backward_of<B: AutodiffBackend, O: Objective<B> + ?Sized>(
    objective: &O,
    model: &O::Model,
    batch: O::Batch,
    device: &B::Device,
    loss_scale: f64,
) -> Result<(GradientsParams, PendingTally<B::InnerBackend>)> {
    let (loss, tally) = objective.train_step(model, batch, device)?;
    let grads = scaled(loss, loss_scale).backward();
    Ok((GradientsParams::from_grads(grads, model), tally))
}

/// `loss` times `scale` (the loss itself when the scale is 1).
pub fn scaled<B: AutodiffBackend>(loss: Tensor<B, 1>, scale: f64) -> Tensor<B, 1> {
    if scale == 1.0 {
        loss
    } else {
        loss.mul_scalar(scale)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn_flex::Flex;

    /// A tally of many batches holds a bounded number of device tensors
    /// and reads the same f64 sums, in the same order, as one part per batch.
    #[test]
    fn pending_tally_stays_small_and_reads_every_batch() {
        let device = Default::default();
        let mut tally = PendingTally::<Flex>::default();
        let (mut loss, mut metric) = (0.0f64, 0.0f64);
        for i in 0..1000usize {
            let pair = [0.1f32 * i as f32 + 0.37, (i % 7) as f32];
            loss += f64::from(pair[0]);
            metric += f64::from(pair[1]);
            tally.add(PendingTally::new(
                Tensor::<Flex, 1>::from_floats(pair, &device),
                3,
            ));
            assert!(
                tally.parts.len() < COMPACT_AT,
                "{} parts after {i}",
                tally.parts.len()
            );
        }
        let read = tally.read();
        assert_eq!(read.count, 3000);
        assert_eq!((read.loss, read.metric), (loss, metric));
    }
}
