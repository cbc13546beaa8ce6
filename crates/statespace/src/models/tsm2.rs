//! TSM2 (MambaMixer's time-series model, arXiv 2403.19888 v1 §5): each
//! variate's lag is cut into patches, a MambaMixer stack mixes patches
//! along time (causal) and variates (both ways), and a linear head maps
//! each variate's patch features to its horizon:
//!
//!   u (B, lag, V) → patches (B, V, P, patch_len) → Linear + position → (B, V, P, D)
//!   → MambaMixer → LayerNorm → dropout → flatten (B, V, P·D) → Linear → (B, V, H)
//!
//! P = (lag − patch_len) / stride + 1, over the last steps of the lag. The paper states the patching but not
//! its sizes, the embedding or the head: these are choices, listed in
//! docs/ARCHITECTURE.md.

use burn::module::{Module, Param};
use burn::nn::{Dropout, DropoutConfig};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;

use crate::error::{Error, Result};
use crate::layers::linear::Linear;
use crate::layers::mambamixer::{MambaMixer, MambaMixerConfig};
use crate::layers::norm::LayerNorm;
use crate::ops::SsmBackend;
use crate::random::normal;

/// How to build a TSM2 forecaster.
#[derive(Debug, Clone, PartialEq)]
pub struct Tsm2Config {
    /// The MambaMixer stack (its width is the patch embedding's).
    pub mixer: MambaMixerConfig,
    /// Input steps.
    pub lag: usize,
    /// Forecast steps.
    pub horizon: usize,
    /// Steps per patch.
    pub patch_len: usize,
    /// Steps between patch starts.
    pub stride: usize,
    /// Dropout in front of the head.
    pub dropout: f64,
    /// The variate forecast (`None`: every variate).
    pub target: Option<usize>,
}

impl Tsm2Config {
    /// Patches per variate, or an error naming the key that leaves none.
    pub fn patches(&self) -> Result<usize> {
        if self.patch_len == 0 || self.stride == 0 {
            return Err(Error::config(
                "model.patch_len/model.stride",
                "must be at least 1",
            ));
        }
        if self.patch_len > self.lag {
            return Err(Error::config(
                "model.patch_len",
                format!(
                    "a patch of {} steps is longer than the lag ({})",
                    self.patch_len, self.lag
                ),
            ));
        }
        Ok((self.lag - self.patch_len) / self.stride + 1)
    }

    /// A freshly initialised forecaster (position embedding ~ N(0, 0.02²)).
    pub fn init<B: Backend>(&self, device: &B::Device, rng: &mut impl Rng) -> Result<Tsm2<B>> {
        let patches = self.patches()?;
        if !(0.0..1.0).contains(&self.dropout) {
            return Err(Error::config("model.dropout", "must be in [0, 1)"));
        }
        let d = self.mixer.d_model;
        let mixer = self.mixer.init(device, rng)?;
        let features = patches
            .checked_mul(d)
            .ok_or_else(|| crate::size::overflow("model.d_model"))?;
        Ok(Tsm2 {
            embed: Linear::new(self.patch_len, d, true, device, rng),
            position: Param::from_tensor(normal(rng, [patches, d], 0.0, 0.02, device)),
            mixer,
            norm: LayerNorm::new(d, 1e-5, device),
            dropout: DropoutConfig::new(self.dropout).init(),
            head: Linear::new(features, self.horizon, true, device, rng),
            lag: self.lag,
            stride: self.stride,
            target: self.target,
        })
    }
}

/// The TSM2 forecaster.
#[derive(Module, Debug)]
pub struct Tsm2<B: Backend> {
    /// patch_len → D.
    pub embed: Linear<B>,
    /// Learned position of each patch, (P, D).
    pub position: Param<Tensor<B, 2>>,
    /// The MambaMixer stack.
    pub mixer: MambaMixer<B>,
    /// LayerNorm in front of the head.
    pub norm: LayerNorm<B>,
    /// Dropout in front of the head.
    pub dropout: Dropout,
    /// P·D → horizon, shared by the variates.
    pub head: Linear<B>,
    #[module(skip)]
    lag: usize,
    #[module(skip)]
    stride: usize,
    #[module(skip)]
    target: Option<usize>,
}

impl<B: SsmBackend> Tsm2<B> {
    /// u (B, lag, V) → the forecast (B, horizon, V), or (B, horizon, 1) of
    /// the target variate.
    pub fn forward(&self, u: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let [b, lag, v] = u.dims();
        let [patches, d] = self.position.val().dims();
        let patch_len = self.embed.weight.val().dims()[1];
        if lag != self.lag || self.target.is_some_and(|t| t >= v) {
            return Err(Error::shape(
                "TSM2 input (batch, lag, variates)",
                &[b, self.lag, v.max(self.target.map_or(0, |t| t + 1))],
                &[b, lag, v],
            ));
        }
        // The patches cover the last steps; a lag that the stride does not
        // divide leaves its oldest steps out.
        let covered = (patches - 1) * self.stride + patch_len;
        let series = u.swap_dims(1, 2).narrow(2, lag - covered, covered); // (B, V, covered)
        let cut = (0..patches)
            .map(|i| series.clone().narrow(2, i * self.stride, patch_len))
            .collect();
        let x = self.embed.forward(Tensor::stack::<4>(cut, 2))?
            + self.position.val().reshape([1, 1, patches, d]);
        let h = self.norm.forward(self.mixer.forward(x)?)?;
        let h = self.dropout.forward(h).reshape([b, v, patches * d]);
        let y = self.head.forward(h)?.swap_dims(1, 2); // (B, H, V)
        Ok(match self.target {
            Some(t) => y.narrow(2, t, 1),
            None => y,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use burn::backend::Flex;
    use rand::SeedableRng;

    fn model(lag: usize, target: Option<usize>) -> Tsm2<Flex> {
        let config = Tsm2Config {
            mixer: MambaMixerConfig {
                n_layers: 1,
                d_state: 2,
                ..MambaMixerConfig::new(4)
            },
            lag,
            horizon: 3,
            patch_len: 8,
            stride: 4,
            dropout: 0.0,
            target,
        };
        config
            .init(
                &Default::default(),
                &mut rand_chacha::ChaCha8Rng::seed_from_u64(0),
            )
            .unwrap()
    }

    #[test]
    fn a_lag_the_stride_does_not_divide_drops_its_oldest_steps() {
        // (27 − 8) / 4 + 1 = 5 patches cover the last 24 steps.
        let net = model(27, None);
        let u = Tensor::<Flex, 3>::ones([2, 27, 3], &Default::default());
        assert_eq!(net.forward(u.clone()).unwrap().dims(), [2, 3, 3]);
        // The three oldest steps are not read.
        let older = Tensor::cat(
            vec![
                Tensor::zeros([2, 3, 3], &Default::default()),
                u.clone().narrow(1, 3, 24),
            ],
            1,
        );
        let (a, b) = (net.forward(u).unwrap(), net.forward(older).unwrap());
        assert!(a.equal(b).all().into_scalar());
    }

    #[test]
    fn a_wrong_lag_or_target_is_a_named_error() {
        let u = Tensor::<Flex, 3>::ones([1, 26, 2], &Default::default());
        let e = model(27, None).forward(u).unwrap_err().to_string();
        assert!(e.contains("TSM2 input"), "{e}");
        let u = Tensor::<Flex, 3>::ones([1, 27, 2], &Default::default());
        let e = model(27, Some(2)).forward(u).unwrap_err().to_string();
        assert!(e.contains("TSM2 input"), "{e}");
    }
}
