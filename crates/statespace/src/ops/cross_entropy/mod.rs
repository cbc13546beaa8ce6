//! Softmax cross-entropy per row as a backend extension with its own
//! backward.
//!
//! For logits x (N, C) and labels y (N): lse\[n\] = log Σ_c exp x[n, c] and
//! loss\[n\] = lse\[n\] − x[n, y\[n\]]; ∂x[n, c] = ∂loss\[n\] · (exp(x[n, c] −
//! lse\[n\]) − [c = y\[n\]]). As tensor ops (log-softmax, gather and their
//! autodiff) an LM head's logits are read and written about ten times,
//! several passes non-vectorised (a mamba-130m step's 8,192 × 50,280
//! logits: ≈ 17 ms of a 245 ms step on an H200). CubeCL devices read them
//! once forward (one cube per row, an online max and sum) and once
//! backward (`cube.rs`); the defaults are the tensor ops of
//! `reference.rs`, which define the semantics.

mod autodiff;
mod cpu;
#[cfg(feature = "cuda")]
mod cube;
#[cfg(feature = "cuda")]
mod kernels;
mod reference;

use burn::tensor::backend::Backend;
use burn::tensor::ops::{FloatTensor, IntTensor};
use burn::tensor::{Int, Tensor};

use crate::error::Result;
use crate::ops::support::check;
use crate::ops::support::primitive::{float, tensor};

pub use reference::{cross_entropy_backward_composite, cross_entropy_forward_composite};

/// Backends that compute softmax cross-entropy in one pass each way.
pub trait CrossEntropyOps: Backend {
    /// (loss (N), lse (N)) of logits (N, C) against labels (N), each below
    /// C (see the module doc).
    fn cross_entropy_forward(
        logits: FloatTensor<Self>,
        labels: IntTensor<Self>,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        cross_entropy_forward_composite::<Self>(logits, labels)
    }

    /// ∂logits (N, C) from ∂loss (N), given the forward's logits, labels
    /// and lse.
    fn cross_entropy_backward(
        logits: FloatTensor<Self>,
        labels: IntTensor<Self>,
        lse: FloatTensor<Self>,
        grad_loss: FloatTensor<Self>,
    ) -> FloatTensor<Self> {
        cross_entropy_backward_composite::<Self>(logits, labels, lse, grad_loss)
    }
}

/// The mean softmax cross-entropy of `logits` (N, C) against `labels` (N),
/// each below C (not checked: that would read the labels back from the
/// device): a one-element tensor, differentiable in the logits.
///
/// # Errors
/// [`check_cross_entropy`]'s error on the inputs it refuses (labels not one
/// per row would have the GPU kernels read past them).
pub fn mean_cross_entropy<B: CrossEntropyOps>(
    logits: Tensor<B, 2>,
    labels: Tensor<B, 1, Int>,
) -> Result<Tensor<B, 1>> {
    check_cross_entropy(&logits, &labels)?;
    let (loss, _) = B::cross_entropy_forward(float(logits), labels.into_primitive());
    Ok(tensor::<B, 1>(loss).mean())
}

/// Fails, naming the argument, unless `labels` holds one label per row of
/// `logits` (N, C ≥ 1), the logits are stored as a float type, and both
/// are on one device.
pub fn check_cross_entropy<B: Backend>(
    logits: &Tensor<B, 2>,
    labels: &Tensor<B, 1, Int>,
) -> Result<()> {
    const OP: &str = "mean_cross_entropy";
    let [rows, classes] = logits.dims();
    check::shape(OP, "labels (N)", &[rows], &labels.dims())?;
    check::min_axis(OP, "logits (N, C ≥ 1)", &[rows, classes], 1, 1)?;
    check::float_dtype(OP, "logits", logits.dtype())?;
    check::same_device(
        OP,
        &[("logits", logits.device()), ("labels", labels.device())],
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Autodiff;
    use burn::tensor::activation::log_softmax;
    use burn::tensor::{TensorData, Tolerance};
    use burn_flex::Flex;

    type B = Autodiff<Flex>;

    /// The loss and the logits' gradient equal autodiff of log-softmax and
    /// gather, with large logits (the max subtraction matters).
    #[test]
    fn op_matches_autodiff_of_log_softmax() {
        let device = Default::default();
        let (rows, classes) = (6, 9);
        let mut rng = <rand_chacha::ChaCha8Rng as rand::SeedableRng>::seed_from_u64(1);
        let logits = crate::random::normal::<B, 2>(&mut rng, [rows, classes], 0.0, 30.0, &device)
            .require_grad();
        let labels =
            Tensor::<B, 1, Int>::from_data(TensorData::from([0i64, 8, 3, 3, 5, 1]), &device);
        let ours = mean_cross_entropy(logits.clone(), labels.clone()).unwrap();
        let theirs = log_softmax(logits.clone(), 1)
            .gather(1, labels.reshape([rows, 1]))
            .mean()
            .neg();
        let tol = Tolerance::<f32>::absolute(1e-4);
        ours.to_data().assert_approx_eq(&theirs.to_data(), tol);
        let g_ours = logits.grad(&ours.backward()).unwrap();
        let g_theirs = logits.grad(&theirs.backward()).unwrap();
        g_ours
            .to_data()
            .assert_approx_eq(&g_theirs.to_data(), Tolerance::<f32>::absolute(1e-6));
    }
}
