//! S5's SSM with the gating of its `SequenceLayer` (`activation_fn`): the
//! mixer the classifier and the language model stack.

use burn::module::Module;
use burn::tensor::Tensor;
use burn::tensor::activation::sigmoid;
use burn::tensor::backend::Backend;
use rand::Rng;

use super::config::{S5Activation, S5Config};
use super::{S5Ssm, S5State};
use crate::error::Result;
use crate::layers::activation::gelu_tanh;
use crate::layers::linear::Dense;
use crate::ops::SsmBackend;

/// The SSM, then gelu (tanh form) and the configured gate; dropout is the
/// model's.
#[derive(Module, Debug)]
pub struct S5Block<B: Backend> {
    /// The SSM (flax name `seq`).
    pub seq: S5Ssm<B>,
    /// The full GLU's value map (H, H).
    pub out1: Option<Dense<B>>,
    /// The GLU's gate map (H, H).
    pub out2: Option<Dense<B>>,
    #[module(skip)]
    activation: S5Activation,
}

impl S5Config {
    /// The SSM and its gate, freshly initialised (Dense layers by flax's
    /// default).
    pub fn init<B: SsmBackend>(
        &self,
        device: &B::Device,
        rng: &mut impl Rng,
    ) -> Result<S5Block<B>> {
        let seq = self.init_ssm(device, rng)?;
        let h = self.d_model;
        let mut dense = |used: bool| used.then(|| Dense::new(h, h, device, rng));
        let out1 = dense(self.activation == S5Activation::FullGlu);
        let out2 = dense(self.activation != S5Activation::Gelu);
        Ok(S5Block {
            seq,
            out1,
            out2,
            activation: self.activation,
        })
    }
}

impl<B: SsmBackend> S5Block<B> {
    /// The zero state for `batch` sequences.
    pub fn initial_state(&self, batch: usize) -> S5State<B> {
        self.seq.initial_state(batch)
    }

    /// (B, L, H) → (B, L, H).
    pub fn forward(&self, u: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        self.gate(self.seq.forward(u)?)
    }

    /// A chunk from `state`; fails for a bidirectional SSM.
    pub fn forward_with_state(
        &self,
        u: Tensor<B, 3>,
        state: &S5State<B>,
    ) -> Result<(Tensor<B, 3>, S5State<B>)> {
        let (y, state) = self.seq.forward_with_state(u, state)?;
        Ok((self.gate(y)?, state))
    }

    /// One step u (B, H) from `state`; fails for a bidirectional SSM.
    pub fn step(&self, u: Tensor<B, 2>, state: &S5State<B>) -> Result<(Tensor<B, 2>, S5State<B>)> {
        let [batch, h] = u.dims();
        let (y, state) = self.forward_with_state(u.reshape([batch, 1, h]), state)?;
        Ok((y.reshape([batch, h]), state))
    }

    /// The activation and gate of S5's `SequenceLayer` on the SSM output.
    fn gate(&self, y: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let dense = |d: &Option<Dense<B>>, x: Tensor<B, 3>| match d {
            Some(d) => d.forward(x),
            None => Err(crate::error::Error::config(
                "activation",
                format!("{:?} needs its Dense layers (out1/out2)", self.activation),
            )),
        };
        Ok(match self.activation {
            S5Activation::Gelu => gelu_tanh(y),
            S5Activation::FullGlu => {
                let g = gelu_tanh(y);
                dense(&self.out1, g.clone())? * sigmoid(dense(&self.out2, g)?)
            }
            S5Activation::HalfGlu1 => {
                let g = gelu_tanh(y);
                g.clone() * sigmoid(dense(&self.out2, g)?)
            }
            S5Activation::HalfGlu2 => y.clone() * sigmoid(dense(&self.out2, gelu_tanh(y))?),
        })
    }
}
