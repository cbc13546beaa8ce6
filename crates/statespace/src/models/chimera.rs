//! A Chimera forecaster: every value of the lag window is lifted to D
//! features (plus a learned embedding of its variate), a Chimera stack
//! mixes time and variates, and two linear maps read each variate's
//! horizon from its features over the lag:
//!
//!   u (B, lag, V) → Linear(1 → D) + variate embedding → (B, lag, V, D)
//!   → Chimera → LayerNorm → Linear(D → 1) → (B, V, lag) → Linear(lag → H)
//!
//! The paper forecasts through a multivariate closed loop whose details it
//! does not give (docs/ARCHITECTURE.md); this head is the direct one.

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;

use crate::error::{Error, Result};
use crate::layers::chimera::{Chimera, ChimeraConfig};
use crate::layers::linear::Linear;
use crate::layers::norm::LayerNorm;
use crate::ops::SsmBackend;
use crate::random::normal;

/// How to build a Chimera forecaster.
#[derive(Debug, Clone, PartialEq)]
pub struct ChimeraForecasterConfig {
    /// The stack.
    pub stack: ChimeraConfig,
    /// Input steps.
    pub lag: usize,
    /// Forecast steps.
    pub horizon: usize,
    /// Variates of the input.
    pub variates: usize,
    /// The variate forecast (`None`: every variate).
    pub target: Option<usize>,
}

impl ChimeraForecasterConfig {
    /// A freshly initialised forecaster (variate embedding ~ N(0, 0.02²)).
    pub fn init<B: Backend>(
        &self,
        device: &B::Device,
        rng: &mut impl Rng,
    ) -> Result<ChimeraForecaster<B>> {
        if self.lag == 0 || self.horizon == 0 || self.variates == 0 {
            return Err(Error::config(
                "task.lag/task.horizon",
                "Chimera needs a lag, a horizon and a variate",
            ));
        }
        let d = self.stack.d_model;
        let stack = self.stack.init(device, rng)?;
        Ok(ChimeraForecaster {
            embed: Linear::new(1, d, true, device, rng),
            variate: Param::from_tensor(normal(rng, [self.variates, d], 0.0, 0.02, device)),
            stack,
            norm: LayerNorm::new(d, 1e-5, device),
            readout: Linear::new(d, 1, true, device, rng),
            head: Linear::new(self.lag, self.horizon, true, device, rng),
            target: self.target,
        })
    }
}

/// The Chimera forecaster.
#[derive(Module, Debug)]
pub struct ChimeraForecaster<B: Backend> {
    /// 1 → D, each value.
    pub embed: Linear<B>,
    /// Learned embedding of each variate, (V, D).
    pub variate: Param<Tensor<B, 2>>,
    /// The Chimera stack.
    pub stack: Chimera<B>,
    /// LayerNorm in front of the readout.
    pub norm: LayerNorm<B>,
    /// D → 1.
    pub readout: Linear<B>,
    /// lag → horizon, shared by the variates.
    pub head: Linear<B>,
    #[module(skip)]
    target: Option<usize>,
}

impl<B: SsmBackend> ChimeraForecaster<B> {
    /// u (B, lag, V) → the forecast (B, horizon, V), or (B, horizon, 1) of
    /// the target variate.
    pub fn forward(&self, u: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let [b, lag, v] = u.dims();
        let [variates, d] = self.variate.val().dims();
        let expected = self.head.weight.val().dims()[1];
        if lag != expected || v != variates {
            return Err(Error::shape(
                "Chimera input (batch, lag, variates)",
                &[b, expected, variates],
                &[b, lag, v],
            ));
        }
        let x =
            self.embed.forward(u.unsqueeze_dim::<4>(3))? + self.variate.val().reshape([1, 1, v, d]);
        let h = self.norm.forward(self.stack.forward(x)?)?;
        let series = self
            .readout
            .forward(h)?
            .reshape([b, lag, v])
            .swap_dims(1, 2); // (B, V, lag)
        let y = self.head.forward(series)?.swap_dims(1, 2); // (B, H, V)
        Ok(match self.target {
            Some(t) => y.narrow(2, t, 1),
            None => y,
        })
    }
}
