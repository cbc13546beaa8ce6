//! BatchNorm over every position of a batch, as S4's LRA recipes normalise
//! their blocks (`norm: batch`: torch's `BatchNorm1d` on (B, d, L)).
//!
//! Channels are the last axis of x (…, d); the statistics run over all
//! other axes, n = the product of their sizes (padding included, as in the
//! reference, whose batches are padded too).
//!
//! - Training (an autodiff backend): μ and σ² (biased) of each channel over
//!   the n positions; y = (x − μ)/√(σ² + ε)·w + b. The running statistics
//!   move towards the batch's: running_mean ← (1 − m)·running_mean + m·μ,
//!   running_var ← (1 − m)·running_var + m·σ²·n/(n − 1) (torch keeps the
//!   unbiased variance), without gradients.
//! - Evaluation (a backend without autodiff, e.g. `model.valid()`):
//!   y = (x − running_mean)/√(running_var + ε)·w + b, a per-channel affine
//!   map, so a recurrent view of the model stays exact.
//!
//! Training runs the op `ops::batch_norm` (column sums and element-wise
//! ops each way): the first build's tensor ops broadcast (1, d) operands
//! over the rows, and autodiff summed their gradients along the leading
//! axis of all n positions, which CubeCL runs on one cube (see
//! `normalise_by_batch`).

use burn::module::{Module, Param, RunningState};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use crate::error::{Error, Result};
use crate::ops::{NormOps, batch_norm};

/// torch's default momentum of the running statistics.
pub const MOMENTUM: f64 = 0.1;

/// BatchNorm with torch's parameter names: `weight`, `bias` (trained),
/// `running_mean`, `running_var` (not trained; saved with the model).
#[derive(Module, Debug)]
pub struct BatchNorm<B: Backend> {
    /// Scale, (d).
    pub weight: Param<Tensor<B, 1>>,
    /// Shift, (d).
    pub bias: Param<Tensor<B, 1>>,
    /// Running mean of each channel, (d).
    pub running_mean: RunningState<Tensor<B, 1>>,
    /// Running (unbiased) variance of each channel, (d).
    pub running_var: RunningState<Tensor<B, 1>>,
    /// ε added to the variance.
    pub eps: f64,
    /// Weight of the batch in the running statistics' update.
    pub momentum: f64,
}

impl<B: Backend> BatchNorm<B> {
    /// Unit scale, zero shift, running mean 0 and variance 1, width `d`.
    pub fn new(d: usize, eps: f64, momentum: f64, device: &B::Device) -> Self {
        Self {
            weight: Param::from_tensor(Tensor::ones([d], device)),
            bias: Param::from_tensor(Tensor::zeros([d], device)),
            running_mean: RunningState::new(Tensor::zeros([d], device)),
            running_var: RunningState::new(Tensor::ones([d], device)),
            eps,
            momentum,
        }
    }
}

impl<B: NormOps> BatchNorm<B> {
    /// Normalises x (…, d) per channel (see the module doc). Fails on a
    /// width other than the norm's, and in training on a batch of one
    /// position (its variance is undefined).
    pub fn forward<const D: usize>(&self, x: Tensor<B, D>) -> Result<Tensor<B, D>> {
        let dims = x.dims();
        let width = self.weight.val().dims()[0];
        if dims[D - 1] != width {
            let mut expected = dims;
            expected[D - 1] = width;
            return Err(Error::shape("batch norm input (…, d)", &expected, &dims));
        }
        let rows: usize = dims[..D - 1].iter().product();
        let flat = x.reshape([rows, width]);
        let y = if B::ad_enabled(&flat.device()) {
            if rows < 2 {
                return Err(Error::config(
                    "norm",
                    "batch norm in training needs more than one position per channel",
                ));
            }
            self.normalise_by_batch(flat)?
        } else {
            let device = flat.device();
            normalise_by_statistics(
                flat,
                self.running_mean.value().to_device(&device),
                self.running_var.value().to_device(&device),
                self.weight.val(),
                self.bias.val(),
                self.eps,
            )
        };
        Ok(y.reshape(dims))
    }

    /// Training: x (n, d) normalised by its own μ and σ² through
    /// [`batch_norm`] (column sums and element-wise ops each way, with a
    /// backward of its own: no (1, d) operand broadcast over the n rows,
    /// whose gradient autodiff would sum along the leading axis, on one
    /// cube on CubeCL), and the running statistics moved.
    fn normalise_by_batch(&self, x: Tensor<B, 2>) -> Result<Tensor<B, 2>> {
        let rows = x.dims()[0];
        let (y, mean, var) = batch_norm(x, self.weight.val(), self.bias.val(), self.eps)?;
        self.update_running_statistics(mean, var, rows);
        Ok(y)
    }

    /// running ← (1 − m)·running + m·batch, the variance unbiased over the
    /// batch's `rows` positions; committed at once, so that what the model
    /// saves is never one update behind.
    fn update_running_statistics(&self, mean: Tensor<B, 1>, var: Tensor<B, 1>, rows: usize) {
        let m = self.momentum;
        let unbias = rows as f64 / (rows - 1) as f64;
        for (state, batch, factor) in [
            (&self.running_mean, mean, 1.0),
            (&self.running_var, var, unbias),
        ] {
            let old = state.value_sync().to_device(&batch.device()).detach();
            state.update(old * (1.0 - m) + batch.detach() * (m * factor));
            state.value_sync();
        }
    }
}

/// BatchNorm by given statistics, each (d), over the channels of x (…, d):
/// y = (x − mean)/√(var + ε)·weight + bias, as one scale and one shift per
/// channel (evaluation: nothing is differentiated, so the (d) operands
/// may broadcast over the rows).
pub fn normalise_by_statistics<B: Backend, const D: usize>(
    x: Tensor<B, D>,
    mean: Tensor<B, 1>,
    var: Tensor<B, 1>,
    weight: Tensor<B, 1>,
    bias: Tensor<B, 1>,
    eps: f64,
) -> Tensor<B, D> {
    let mut channel = [1; D];
    channel[D - 1] = mean.dims()[0];
    let scale = inverse_std(var, eps) * weight;
    let shift = bias - mean * scale.clone();
    x * scale.reshape(channel) + shift.reshape(channel)
}

fn inverse_std<B: Backend, const D: usize>(var: Tensor<B, D>, eps: f64) -> Tensor<B, D> {
    var.add_scalar(eps).sqrt().recip()
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Autodiff;
    use burn::module::AutodiffModule;
    use burn::tensor::TensorData;
    use burn_flex::Flex;

    type AD = Autodiff<Flex>;

    /// x (2, 3, 2): two channels over six positions.
    const X: [f32; 12] = [
        1.0, -2.0, 3.0, 0.5, -1.0, 4.0, 2.0, 1.5, 0.0, -0.5, 5.0, 2.5,
    ];

    fn channel(c: usize) -> Vec<f64> {
        X.iter().skip(c).step_by(2).map(|&v| f64::from(v)).collect()
    }

    fn mean_var(values: &[f64]) -> (f64, f64) {
        let n = values.len() as f64;
        let mean = values.iter().sum::<f64>() / n;
        (
            mean,
            values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / n,
        )
    }

    fn close(actual: &[f32], expected: &[f64], tol: f64) {
        assert_eq!(actual.len(), expected.len());
        for (i, (&a, &e)) in actual.iter().zip(expected).enumerate() {
            assert!(
                (f64::from(a) - e).abs() <= tol,
                "element {i}: {a} against {e}"
            );
        }
    }

    fn values<B: Backend, const D: usize>(t: Tensor<B, D>) -> Vec<f32> {
        t.into_data().convert::<f32>().to_vec().unwrap()
    }

    #[test]
    fn training_normalises_by_the_batch_and_moves_the_running_statistics_as_torch() {
        let device = Default::default();
        let mut bn = BatchNorm::<AD>::new(2, 1e-5, MOMENTUM, &device);
        bn.weight = Param::from_tensor(Tensor::from_data([2.0f32, 0.5], &device));
        bn.bias = Param::from_tensor(Tensor::from_data([0.25f32, -1.0], &device));
        let x = Tensor::<AD, 3>::from_data(TensorData::new(X.to_vec(), [2, 3, 2]), &device);
        let y = values(bn.forward(x).unwrap());
        let (w, b) = ([2.0, 0.5], [0.25, -1.0]);
        let stats: Vec<(f64, f64)> = (0..2).map(|c| mean_var(&channel(c))).collect();
        let expected: Vec<f64> = X
            .iter()
            .enumerate()
            .map(|(i, &v)| {
                let (mean, var) = stats[i % 2];
                (f64::from(v) - mean) / (var + 1e-5).sqrt() * w[i % 2] + b[i % 2]
            })
            .collect();
        close(&y, &expected, 1e-5);
        let running_mean: Vec<f64> = stats.iter().map(|(m, _)| 0.1 * m).collect();
        let running_var: Vec<f64> = stats
            .iter()
            .map(|(_, v)| 0.9 + 0.1 * v * 6.0 / 5.0)
            .collect();
        close(&values(bn.running_mean.value()), &running_mean, 1e-6);
        close(&values(bn.running_var.value()), &running_var, 1e-6);

        // Evaluation reads the running statistics: one affine map per channel.
        let eval = bn.valid();
        let x = Tensor::<Flex, 2>::from_data(TensorData::new(vec![1.0f32, 2.0], [1, 2]), &device);
        let y = values(eval.forward(x).unwrap());
        let expected: Vec<f64> = (0..2)
            .map(|c| {
                let v = [1.0, 2.0][c];
                (v - running_mean[c]) / (running_var[c] + 1e-5).sqrt() * w[c] + b[c]
            })
            .collect();
        close(&y, &expected, 1e-5);
    }

    #[test]
    fn gradients_of_the_input_and_the_affine_parameters_match_the_closed_form_and_skip_the_statistics()
     {
        let device = Default::default();
        let bn = BatchNorm::<AD>::new(2, 1e-5, MOMENTUM, &device);
        let x = Tensor::<AD, 3>::from_data(TensorData::new(X.to_vec(), [2, 3, 2]), &device)
            .require_grad();
        // Σ y·t with a fixed t: ∂x = r·(t − mean(t) − x̂·mean(t·x̂)) per channel.
        let t: Vec<f32> = (0..12).map(|i| (i as f32 * 0.37).sin()).collect();
        let target = Tensor::<AD, 3>::from_data(TensorData::new(t.clone(), [2, 3, 2]), &device);
        let y = bn.forward(x.clone()).unwrap();
        let grads = (y * target).sum().backward();
        let gx = values(x.grad(&grads).unwrap());
        let mut expected = vec![0.0; 12];
        let (mut grad_w, mut grad_b) = (vec![0.0; 2], vec![0.0; 2]);
        for c in 0..2 {
            let xs = channel(c);
            let (mean, var) = mean_var(&xs);
            let r = 1.0 / (var + 1e-5).sqrt();
            let hat: Vec<f64> = xs.iter().map(|v| (v - mean) * r).collect();
            let ts: Vec<f64> = t.iter().skip(c).step_by(2).map(|&v| f64::from(v)).collect();
            let n = xs.len() as f64;
            let mean_t = ts.iter().sum::<f64>() / n;
            let mean_th = ts.iter().zip(&hat).map(|(t, h)| t * h).sum::<f64>() / n;
            for k in 0..xs.len() {
                expected[2 * k + c] = r * (ts[k] - mean_t - hat[k] * mean_th);
            }
            grad_w[c] = mean_th * n;
            grad_b[c] = mean_t * n;
        }
        close(&gx, &expected, 1e-4);
        close(
            &values(bn.weight.val().grad(&grads).unwrap()),
            &grad_w,
            1e-4,
        );
        close(&values(bn.bias.val().grad(&grads).unwrap()), &grad_b, 1e-4);
        assert!(bn.running_mean.value().grad(&grads).is_none());
    }

    #[test]
    fn a_wrong_width_or_a_single_position_in_training_is_an_error() {
        let device = Default::default();
        let bn = BatchNorm::<AD>::new(2, 1e-5, MOMENTUM, &device);
        let wide = Tensor::<AD, 3>::zeros([2, 3, 4], &device);
        assert!(matches!(bn.forward(wide), Err(Error::Shape { .. })));
        let single = Tensor::<AD, 3>::zeros([1, 1, 2], &device);
        let err = bn.forward(single).unwrap_err().to_string();
        assert!(err.contains("more than one position"), "{err}");
    }
}
