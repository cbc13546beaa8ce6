//! What a training run optimises, apart from the loop that runs it: the
//! model, a training step's loss, and the two numbers a split is judged by
//! (cross-entropy and accuracy for classification, MSE and MAE for
//! forecasting).

use burn::module::AutodiffModule;
use burn::tensor::Tensor;
use burn::tensor::backend::AutodiffBackend;
use rand_chacha::ChaCha8Rng;

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

/// A task and its model, as the training loop sees them.
pub trait Objective<B: AutodiffBackend> {
    /// The trained model.
    type Model: AutodiffModule<B> + Clone;
    /// The names of the two metric columns, e.g. `["loss", "accuracy"]`.
    fn columns(&self) -> [&'static str; 2];
    /// How validation rows are compared.
    fn goal(&self) -> Goal;
    /// A freshly initialised model.
    fn init(&self, device: &B::Device, rng: &mut ChaCha8Rng) -> Result<Self::Model>;
    /// The loss of training step `step` (1-based; batches drawn by
    /// `seed`), and the batch's tally.
    fn train_step(
        &self,
        model: &Self::Model,
        seed: u64,
        step: u64,
        device: &B::Device,
    ) -> Result<(Tensor<B, 1>, Tally)>;
    /// The tally of a whole split, without gradients.
    fn evaluate(
        &self,
        model: &<Self::Model as AutodiffModule<B>>::InnerModule,
        split: Split,
        device: &B::Device,
    ) -> Result<Tally>;
}
