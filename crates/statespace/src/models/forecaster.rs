//! Forecasters: networks that map `lag` steps of a series (B, lag, C_in) to
//! the next `horizon` steps (B, horizon, C_out).
//!
//! - SpaceTime forecasts through its closed-loop decoder and also returns
//!   its open-loop outputs, which its training loss supervises.
//! - TSM2 and Chimera read every variate and forecast each from its own
//!   features (or only the target variate, for `MS`).
//! - Any mixer stack (S4D, Mamba, …) reads the lag followed by `horizon`
//!   zero steps and forecasts from its outputs at those steps through a
//!   linear head (the S4 papers' Informer setup). The zero steps hold no
//!   future values, so bidirectional mixers are allowed.

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;

use super::chimera::{ChimeraForecaster, ChimeraForecasterConfig};
use super::classifier::{Classifier, ClassifierConfig, Inputs};
use super::tsm2::{Tsm2, Tsm2Config};
use crate::error::{Error, Result};
use crate::layers::spacetime::{SpaceTime, SpaceTimeConfig};
use crate::ops::SsmBackend;

/// How to build a forecaster.
#[derive(Debug, Clone)]
pub enum ForecasterConfig {
    /// The SpaceTime network (its config fixes lag and horizon).
    SpaceTime(SpaceTimeConfig),
    /// TSM2 (MambaMixer's time-series model).
    Tsm2(Tsm2Config),
    /// A Chimera stack with a linear head.
    Chimera(ChimeraForecasterConfig),
    /// A mixer stack with a linear head of `classes` = C_out outputs.
    Stack {
        /// The stack (input: C_in values per step).
        model: ClassifierConfig,
        /// Forecast steps.
        horizon: usize,
    },
}

/// A mixer stack used as a forecaster.
#[derive(Module, Debug)]
pub struct StackForecaster<B: Backend> {
    /// Encoder, blocks and head.
    pub model: Classifier<B>,
    #[module(skip)]
    horizon: usize,
}

/// A forecaster.
#[derive(Module, Debug)]
pub enum Forecaster<B: Backend> {
    /// SpaceTime.
    SpaceTime(SpaceTime<B>),
    /// TSM2.
    Tsm2(Tsm2<B>),
    /// Chimera.
    Chimera(ChimeraForecaster<B>),
    /// A mixer stack.
    Stack(StackForecaster<B>),
}

/// SpaceTime's open-loop outputs, which its loss supervises.
#[derive(Debug, Clone)]
pub struct OpenLoop<B: Backend> {
    /// Outputs over the lag (B, lag, C_out): step t predicts step t + 1.
    pub y: Tensor<B, 3>,
    /// The decoder's prediction of its next input (B, lag, width).
    pub z_pred: Tensor<B, 3>,
    /// The decoder's input (B, lag, width).
    pub z_true: Tensor<B, 3>,
    /// The first SSM's state size: the steps before it are not supervised.
    pub kernel_dim: usize,
}

/// What a forward pass gives.
#[derive(Debug, Clone)]
pub struct ForecastOutput<B: Backend> {
    /// The forecast (B, horizon, C_out).
    pub forecast: Tensor<B, 3>,
    /// SpaceTime's open loop (none for a stack).
    pub open_loop: Option<OpenLoop<B>>,
}

impl<B: Backend> ForecastOutput<B> {
    /// A forecast without an open loop.
    fn direct(forecast: Tensor<B, 3>) -> Self {
        Self {
            forecast,
            open_loop: None,
        }
    }
}

impl ForecasterConfig {
    /// A freshly initialised forecaster.
    pub fn init<B: SsmBackend>(
        &self,
        device: &B::Device,
        rng: &mut impl Rng,
    ) -> Result<Forecaster<B>> {
        Ok(match self {
            ForecasterConfig::SpaceTime(c) => Forecaster::SpaceTime(c.init(device, rng)?),
            ForecasterConfig::Tsm2(c) => Forecaster::Tsm2(c.init(device, rng)?),
            ForecasterConfig::Chimera(c) => Forecaster::Chimera(c.init(device, rng)?),
            ForecasterConfig::Stack { model, horizon } => Forecaster::Stack(StackForecaster {
                model: model.init(device, rng)?,
                horizon: *horizon,
            }),
        })
    }
}

impl<B: SsmBackend> Forecaster<B> {
    /// u (B, lag, C_in) → the forecast (and SpaceTime's open loop).
    pub fn forward(&self, u: Tensor<B, 3>) -> Result<ForecastOutput<B>> {
        match self {
            Forecaster::SpaceTime(net) => {
                let out = net.forward(u)?;
                Ok(ForecastOutput {
                    forecast: out.y_c,
                    open_loop: Some(OpenLoop {
                        y: out.y_o,
                        z_pred: out.z_u_pred,
                        z_true: out.z_u_true,
                        kernel_dim: net.kernel_dim(),
                    }),
                })
            }
            Forecaster::Tsm2(net) => Ok(ForecastOutput::direct(net.forward(u)?)),
            Forecaster::Chimera(net) => Ok(ForecastOutput::direct(net.forward(u)?)),
            Forecaster::Stack(stack) => Ok(ForecastOutput::direct(stack.forward(u)?)),
        }
    }
}

impl<B: SsmBackend> StackForecaster<B> {
    /// u (B, lag, C_in) → (B, horizon, C_out).
    pub fn forward(&self, u: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let [batch, lag, channels] = u.dims();
        if lag == 0 {
            return Err(Error::shape(
                "input (batch, lag ≥ 1, channels)",
                &[batch, 1, channels],
                &[batch, lag, channels],
            ));
        }
        let h = self.horizon;
        let zeros = Tensor::<B, 3>::zeros([batch, h, channels], (&u.device(), u.dtype()));
        let x = Tensor::cat(vec![u, zeros], 1);
        let features = self.model.features(Inputs::Values(x))?.narrow(1, lag, h);
        self.model.head(features)
    }
}
