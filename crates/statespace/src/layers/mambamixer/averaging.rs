//! MambaMixer's weighted averaging of earlier features (arXiv 2403.19888
//! v1, eqs. 19–20): the input of each mixer is a learned weighted sum of
//! the model input and of every earlier mixer output,
//!
//!   x_T^(ℓ) = Σ_{i<ℓ} α_{ℓ,i} y_T^(i) + Σ_{i<ℓ} β_{ℓ,i} y_C^(i)     (19)
//!   x_C^(ℓ) = Σ_{i≤ℓ} θ_{ℓ,i} y_T^(i) + Σ_{i<ℓ} γ_{ℓ,i} y_C^(i)     (20)
//!
//! with y_T^(0) = y_C^(0) = x. The weights are scalars, unconstrained. They
//! start as a residual stream: every weight 1 except those on y_C^(0), which
//! would count x twice, so the untrained model is x + Σ of all mixer
//! outputs so far (the paper gives no initialisation).

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

/// The weights of one weighted sum over the token outputs y_T^(0..) and the
/// channel outputs y_C^(0..).
#[derive(Module, Debug)]
pub struct WeightedSum<B: Backend> {
    /// Weights of y_T^(0), y_T^(1), … (α or θ).
    pub token: Param<Tensor<B, 1>>,
    /// Weights of y_C^(0), y_C^(1), … (β or γ).
    pub channel: Param<Tensor<B, 1>>,
}

impl<B: Backend> WeightedSum<B> {
    /// A sum over `tokens` token outputs and `channels` channel outputs,
    /// starting as the residual stream (weight 0 on y_C^(0) = x).
    pub fn residual(tokens: usize, channels: usize, device: &B::Device) -> Self {
        let mut channel = vec![1.0; channels];
        if let Some(first) = channel.first_mut() {
            *first = 0.0;
        }
        Self {
            token: Param::from_tensor(Tensor::ones([tokens], device)),
            channel: Param::from_tensor(Tensor::from_floats(channel.as_slice(), device)),
        }
    }

    /// Σ token\[i\]·y_T\[i\] + Σ channel\[i\]·y_C\[i\] over the outputs so far; each
    /// output has the same shape. The slices are as long as the weights.
    pub fn apply<const D: usize>(
        &self,
        tokens: &[Tensor<B, D>],
        channels: &[Tensor<B, D>],
    ) -> Tensor<B, D> {
        let weigh = |w: Tensor<B, 1>, ys: &[Tensor<B, D>]| -> Vec<Tensor<B, D>> {
            ys.iter()
                .enumerate()
                .map(|(i, y)| y.clone() * w.clone().narrow(0, i, 1).reshape([1; D]))
                .collect()
        };
        weigh(self.token.val(), tokens)
            .into_iter()
            .chain(weigh(self.channel.val(), channels))
            .reduce(|a, b| a + b)
            .expect("the model input is always among the token outputs")
    }
}
