//! LSSL (Gu et al., "Combining Recurrent, Convolutional, and Continuous-time
//! Models with Linear State-Space Layers"), as state-spaces/s4's `LSSL`
//! module runs it with a fixed HiPPO transition (`learn = 0`): per feature
//! h a dense system (A, B) of N states from the measure, discretised with
//! its own step Δ_h = exp(log_dt\[h\]) (a buffer, not trained); M output
//! channels y[h, m] = C[h, m]·x_h + D[h, m]·u_h (+ E[h, m]); then the
//! activation and a linear map from the H·M channels (h-major, as the
//! official `(h m)`) back to H.
//!
//! Two views, held equal by tests: the convolution with the kernel
//! K[h, m, l] = C[h, m]·Āₕˡ B̄ₕ (the Krylov matrix of each system, powered
//! on the host in f64: O(H·N²·L)), and the recurrence x_h ← Āₕ x_h + B̄ₕ u_h.

#![allow(non_snake_case)] // parameter names follow the reference

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;

use crate::discretize::{DenseDiscrete, Discretization, dense};
use crate::error::{Error, Result};
use crate::hippo::{Measure, Transition, transition};
use crate::io::HostTensor;
use crate::layers::activation::Activation;
use crate::layers::linear::Linear;
use crate::ops::{SsmBackend, causal_conv, matmul};
use crate::random::{normal, uniform};

/// An LSSL layer's settings (state-spaces/s4's `LSSL` arguments).
#[derive(Debug, Clone, PartialEq)]
pub struct LsslConfig {
    /// Features H.
    pub d_model: usize,
    /// States N per feature (the HiPPO order).
    pub d_state: usize,
    /// The HiPPO measure of the fixed transition.
    pub measure: Measure,
    /// Output channels M per feature.
    pub channels: usize,
    /// Discretisation rule (the official code's generalised bilinear
    /// transform with α = ½ is [`Discretization::Bilinear`]).
    pub disc: Discretization,
    /// Range of the steps Δ (log-uniform, drawn once).
    pub dt_min: f64,
    pub dt_max: f64,
    /// A bias E (H, M).
    pub bias: bool,
    /// Activation after the SSM.
    pub activation: Activation,
    /// The output map H·M → H (`ff`).
    pub ff: bool,
}

impl LsslConfig {
    /// The official defaults: LegS, one channel, bilinear, Δ ∈ [0.001, 0.1],
    /// no bias, GELU, output map.
    pub fn new(d_model: usize, d_state: usize) -> Self {
        Self {
            d_model,
            d_state,
            measure: Measure::LegS,
            channels: 1,
            disc: Discretization::Bilinear,
            dt_min: 1e-3,
            dt_max: 1e-1,
            bias: false,
            activation: Activation::Gelu,
            ff: true,
        }
    }

    /// Fails, naming the field, on settings that cannot work.
    pub fn validate(&self) -> Result<()> {
        for (key, value) in [
            ("d_model", self.d_model),
            ("d_state", self.d_state),
            ("channels", self.channels),
        ] {
            if value == 0 {
                return Err(Error::config(key, "must be at least 1"));
            }
        }
        if !(self.dt_min > 0.0 && self.dt_min <= self.dt_max) {
            return Err(Error::config("dt_min", "need 0 < dt_min ≤ dt_max"));
        }
        transition(self.measure, self.d_state).map(|_| ())
    }

    /// A freshly initialised layer: C, D ~ N(0, 1) (the official `normal`
    /// init), E = 0, log Δ ~ U(ln Δmin, ln Δmax), the output map PyTorch's
    /// default.
    pub fn init<B: SsmBackend>(&self, device: &B::Device, rng: &mut impl Rng) -> Result<Lssl<B>> {
        self.validate()?;
        let (h, n, m) = (self.d_model, self.d_state, self.channels);
        let system = transition(self.measure, n)?;
        Ok(Lssl {
            C: Param::from_tensor(normal(rng, [h, m, n], 0.0, 1.0, device)),
            D: Param::from_tensor(normal(rng, [h, m], 0.0, 1.0, device)),
            E: self
                .bias
                .then(|| Param::from_tensor(Tensor::zeros([h, m], device))),
            log_dt: Param::from_tensor(uniform(
                rng,
                [h],
                self.dt_min.ln(),
                self.dt_max.ln(),
                device,
            ))
            .set_require_grad(false),
            output_linear: self.ff.then(|| Linear::new(h * m, h, true, device, rng)),
            system,
            disc: self.disc,
            activation: self.activation,
        })
    }
}

/// An LSSL layer over H features.
#[derive(Module, Debug)]
pub struct Lssl<B: Backend> {
    /// C, (H, M, N).
    pub C: Param<Tensor<B, 3>>,
    /// D, (H, M).
    pub D: Param<Tensor<B, 2>>,
    /// E, (H, M) (`bias`).
    pub E: Option<Param<Tensor<B, 2>>>,
    /// log Δ, (H): a buffer (no gradient).
    pub log_dt: Param<Tensor<B, 1>>,
    /// H·M → H (`ff`).
    pub output_linear: Option<Linear<B>>,
    /// The measure's continuous (A, B).
    #[module(skip)]
    system: Transition,
    #[module(skip)]
    disc: Discretization,
    #[module(skip)]
    activation: Activation,
}

impl<B: SsmBackend> Lssl<B> {
    fn dims(&self) -> [usize; 3] {
        self.C.val().dims()
    }

    /// Each feature's discrete system (Āₕ, B̄ₕ) from the current log Δ.
    fn systems(&self) -> Result<Vec<DenseDiscrete>> {
        let Transition { a, b } = &self.system;
        HostTensor::from_tensor(&self.log_dt.val())
            .data
            .iter()
            .map(|log_dt| dense(a, b, log_dt.exp(), self.disc))
            .collect()
    }

    /// The Krylov matrices (H, N, L): [B̄ₕ, ĀₕB̄ₕ, …, Āₕ^{L−1}B̄ₕ].
    fn krylov(&self, len: usize) -> Result<Tensor<B, 3>> {
        let [h, _, n] = self.dims();
        let mut values = vec![0.0; h * n * len];
        for (k, system) in self.systems()?.iter().enumerate() {
            let mut x = system.b.clone();
            for l in 0..len {
                for i in 0..n {
                    values[(k * n + i) * len + l] = x[i];
                }
                x = &system.a * &x;
            }
        }
        let c = self.C.val();
        HostTensor {
            shape: vec![h, n, len],
            data: values,
        }
        .to_tensor::<B, 3>("krylov", &c.device(), c.dtype())
    }

    /// The kernel K (M, H, L): K[m, h, l] = C[h, m]·Āₕˡ B̄ₕ.
    pub fn kernel(&self, len: usize) -> Result<Tensor<B, 3>> {
        let k = matmul(self.C.val(), self.krylov(len)?)?; // (H, M, L)
        Ok(k.swap_dims(0, 1))
    }

    /// The convolution view: u (B, L, H) → (B, L, H) (or (B, L, H·M)
    /// without the output map).
    pub fn forward(&self, u: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let [batch, len, h] = u.dims();
        let [_, m, _] = self.dims();
        self.check_input(h)?;
        let y = causal_conv(u, self.kernel(len)?, self.D.val().transpose())?; // (B, L, M·H)
        let y = y.reshape([batch, len, m, h]).swap_dims(2, 3); // (B, L, H, M)
        self.output(y)
    }

    /// The zero state x (B, H, N).
    pub fn initial_state(&self, batch: usize) -> Tensor<B, 3> {
        let [h, _, n] = self.dims();
        let c = self.C.val();
        Tensor::zeros([batch, h, n], (&c.device(), c.dtype()))
    }

    /// The recurrent view: u (B, L, H) from the state x (B, H, N), one step
    /// at a time; the outputs and the state after the last step.
    pub fn forward_with_state(
        &self,
        u: Tensor<B, 3>,
        state: Tensor<B, 3>,
    ) -> Result<(Tensor<B, 3>, Tensor<B, 3>)> {
        let [batch, len, h] = u.dims();
        let [_, m, n] = self.dims();
        self.check_input(h)?;
        let c = self.C.val();
        let host = |v: Vec<f64>, shape: Vec<usize>| {
            HostTensor { shape, data: v }.to_tensor::<B, 3>("lssl system", &c.device(), c.dtype())
        };
        let systems = self.systems()?;
        let a_bar: Vec<f64> = systems
            .iter()
            .flat_map(|s| (0..n * n).map(move |i| s.a[(i / n, i % n)]))
            .collect();
        let b_bar: Vec<f64> = systems
            .iter()
            .flat_map(|s| s.b.iter().copied().collect::<Vec<_>>())
            .collect();
        let a_bar: Tensor<B, 4> = host(a_bar, vec![h, n, n])?.unsqueeze(); // (1, H, N, N)
        let b_bar = host(b_bar, vec![1, h, n])?; // (1, H, N)
        let c_t: Tensor<B, 4> = c.swap_dims(1, 2).unsqueeze(); // (1, H, N, M)
        let mut x = state;
        let mut outputs = Vec::with_capacity(len);
        for t in 0..len {
            let u_t = u.clone().narrow(1, t, 1).reshape([batch, h, 1]);
            let ax = matmul(a_bar.clone(), x.unsqueeze_dim(3))?.reshape([batch, h, n]);
            x = ax + b_bar.clone() * u_t.clone();
            let cx = matmul(x.clone().unsqueeze_dim(2), c_t.clone())?.reshape([batch, h, m]);
            let y = cx + u_t * self.D.val().unsqueeze();
            outputs.push(y.unsqueeze_dim(1)); // (B, 1, H, M)
        }
        if outputs.is_empty() {
            return Err(Error::shape(
                "LSSL input u (B, L ≥ 1, H)",
                &[batch, 1, h],
                &[batch, len, h],
            ));
        }
        Ok((self.output(Tensor::cat(outputs, 1))?, x))
    }

    fn check_input(&self, h: usize) -> Result<()> {
        let [features, _, _] = self.dims();
        if h != features {
            return Err(Error::shape("LSSL input u (B, L, H)", &[features], &[h]));
        }
        Ok(())
    }

    /// y (B, L, H, M) → bias, activation, (h m) flattening, output map.
    fn output(&self, y: Tensor<B, 4>) -> Result<Tensor<B, 3>> {
        let [batch, len, h, m] = y.dims();
        let y = match &self.E {
            Some(e) => y + e.val().unsqueeze(),
            None => y,
        };
        let y = self.activation.apply(y)?.reshape([batch, len, h * m]);
        match &self.output_linear {
            Some(linear) => linear.forward(y),
            None => Ok(y),
        }
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::Autodiff;
    use burn::tensor::{DType, Tensor};
    use burn_flex::Flex;
    use rand::SeedableRng;

    use super::*;
    use crate::io::cast_params;
    use crate::kernel::dense::dense_kernel;

    type B = Autodiff<Flex>;

    /// The convolution and the recurrence agree, and the kernel is the
    /// dense powering reference, for two measures, channels and the bias.
    #[test]
    fn convolution_recurrence_and_dense_kernel_agree() {
        let device = Default::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(9);
        for (measure, channels, bias) in [(Measure::LegS, 1, false), (Measure::LegT, 2, true)] {
            let config = LsslConfig {
                measure,
                channels,
                bias,
                dt_min: 0.01,
                dt_max: 0.1,
                ..LsslConfig::new(3, 8)
            };
            let layer = cast_params(config.init::<B>(&device, &mut rng).unwrap(), DType::F64);
            let u = crate::random::normal::<B, 3>(&mut rng, [2, 13, 3], 0.0, 1.0, &device)
                .cast(DType::F64);
            let host = |t: &Tensor<B, 3>| HostTensor::from_tensor(t).data;
            let conv = host(&layer.forward(u.clone()).unwrap());
            let (rec, _) = layer.forward_with_state(u, layer.initial_state(2)).unwrap();
            let err = conv
                .iter()
                .zip(host(&rec))
                .fold(0.0f64, |m, (a, b)| m.max((a - b).abs()));
            assert!(err < 1e-10, "{measure:?}: {err:.2e}");
            // K[m, h] against C·Āˡ B̄ by the dense reference.
            let kernel = host(&layer.kernel(13).unwrap());
            let systems = layer.systems().unwrap();
            let c = HostTensor::from_tensor(&layer.C.val()).data;
            for (h, system) in systems.iter().enumerate() {
                for m in 0..channels {
                    let row = &c[(h * channels + m) * 8..(h * channels + m + 1) * 8];
                    let expected = dense_kernel(system, row, 13);
                    let ours = &kernel[(m * 3 + h) * 13..(m * 3 + h + 1) * 13];
                    let err = ours
                        .iter()
                        .zip(&expected)
                        .fold(0.0f64, |e, (a, b)| e.max((a - b).abs()));
                    assert!(err < 1e-12, "K[{m}, {h}]: {err:.2e}");
                }
            }
        }
    }

    /// Impossible settings are refused, naming the field.
    #[test]
    fn refuses_bad_settings() {
        let err = LsslConfig {
            channels: 0,
            ..LsslConfig::new(3, 8)
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("channels"), "{err}");
        let err = LsslConfig {
            dt_min: 0.0,
            ..LsslConfig::new(3, 8)
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("dt_min"), "{err}");
        let err = LsslConfig {
            measure: Measure::FouT,
            ..LsslConfig::new(3, 7)
        }
        .validate()
        .unwrap_err();
        assert!(
            err.to_string().contains('7') || err.to_string().contains("even"),
            "{err}"
        );
    }
}
