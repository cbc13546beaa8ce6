//! S5 (lindermanlab/S5): a MIMO diagonal SSM over H features with P'
//! complex modes, run as one scan of the diagonal recurrence.
//!
//! Λ = Re Λ (clamped to ≤ −10⁻⁴ with `clip_eigs`) + i·Im Λ, Δ =
//! step_rescale·exp(log_step) per mode; ZOH: Λ̄ = exp(ΛΔ), B̄ = (Λ̄ − 1)/Λ·B̃;
//! bilinear: Λ̄ = (1 − ΔΛ/2)⁻¹(1 + ΔΛ/2), B̄ = (1 − ΔΛ/2)⁻¹Δ·B̃. Per
//! sequence u (L, H): x_k = Λ̄ x_{k−1} + B̄ u_k from x₋₁ = 0 (a reverse scan
//! x'_k = Λ̄ x'_{k+1} + B̄ u_k beside it when bidirectional, read by C's
//! second half), y_k = f·Re(C̃ x_k) + D ⊙ u_k with f = 2 under conjugate
//! symmetry, else 1. Parameters load by S5's flax names: `Lambda_re`,
//! `Lambda_im` (P'), `B` (P', H, 2), `C` (H, P', 2) — or `C1`, `C2`
//! (bidirectional) or `C` (H, 2P', 2) (bidirectional, complex-normal
//! init) — `D` (H), `log_step` (P', 1); complex values as [re, im].
//!
//! [`S5Block`] adds S5's gating (the mixer of the models), [`S5Layer`]
//! the norm and skip of S5's `SequenceLayer`.

#![allow(non_snake_case)] // parameter names follow the reference

mod block;
mod config;
mod init;
mod layer;

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;

pub use block::S5Block;
pub use config::{CInit, S5Activation, S5Config};
pub use layer::{S5Layer, S5Norm, S5NormKind};

use crate::complex::ComplexTensor;
use crate::discretize::Discretization;
use crate::error::{Error, Result};
use crate::ops::{SsmBackend, diagonal_scan, matmul};
use init::{InitialC, initial_values};

/// The most Re Λ may be under `clip_eigs`.
const CLIP_EIGS_MAX: f64 = -1e-4;

/// What the SSM's forward reads besides its parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct S5Settings {
    pub conj_sym: bool,
    pub clip_eigs: bool,
    pub bidirectional: bool,
    pub disc: Discretization,
    pub step_rescale: f64,
}

/// The S5 SSM.
#[derive(Module, Debug)]
pub struct S5Ssm<B: Backend> {
    /// Re Λ, (P').
    pub Lambda_re: Param<Tensor<B, 1>>,
    /// Im Λ, (P').
    pub Lambda_im: Param<Tensor<B, 1>>,
    /// B̃, (P', H, 2).
    pub B: Param<Tensor<B, 3>>,
    /// C̃, (H, P', 2), or (H, 2P', 2) bidirectional with a complex-normal
    /// init; absent when C1 and C2 hold it.
    pub C: Option<Param<Tensor<B, 3>>>,
    /// C̃'s forward half, (H, P', 2) (bidirectional).
    pub C1: Option<Param<Tensor<B, 3>>>,
    /// C̃'s reverse half, (H, P', 2) (bidirectional).
    pub C2: Option<Param<Tensor<B, 3>>>,
    /// Skip D, (H).
    pub D: Param<Tensor<B, 1>>,
    /// log Δ, (P', 1).
    pub log_step: Param<Tensor<B, 2>>,
    #[module(skip)]
    settings: S5Settings,
}

/// The recurrent state of a causal S5 SSM: x (B, 2P'), the complex state
/// split (real parts, then imaginary parts).
#[derive(Debug, Clone)]
pub struct S5State<B: Backend> {
    pub x: Tensor<B, 2>,
}

/// The discretised system as real matrices over split-complex states.
struct Discrete<B: Backend> {
    /// Λ̄ split, (2P').
    lambda: Tensor<B, 1>,
    /// u ↦ B̄u split: (H, 2P').
    input: Tensor<B, 2>,
    /// [x; x'] ↦ f·Re(C̃ [x; x']): (2P'·directions, H).
    output: Tensor<B, 2>,
}

impl S5Config {
    /// The SSM freshly initialised on `device` (S5's init: see `init.rs`).
    pub fn init_ssm<B: SsmBackend>(
        &self,
        device: &B::Device,
        rng: &mut impl Rng,
    ) -> Result<S5Ssm<B>> {
        self.validate()?;
        let values = initial_values(self, rng)?;
        let (h, p) = (self.d_model, self.modes());
        let reals = |v: Vec<f64>| Tensor::<B, 1>::from_floats(v.as_slice(), device);
        let pairs = |z: &[num_complex::Complex64], shape: [usize; 3]| {
            let flat: Vec<f64> = z.iter().flat_map(|z| [z.re, z.im]).collect();
            Param::from_tensor(reals(flat).reshape(shape))
        };
        let lambda = &values.lambda;
        let (C, C1, C2) = match &values.c {
            InitialC::One(c) => (Some(pairs(c, [h, c.len() / h, 2])), None, None),
            InitialC::Two(c1, c2) => (None, Some(pairs(c1, [h, p, 2])), Some(pairs(c2, [h, p, 2]))),
        };
        Ok(S5Ssm {
            Lambda_re: Param::from_tensor(reals(lambda.iter().map(|z| z.re).collect())),
            Lambda_im: Param::from_tensor(reals(lambda.iter().map(|z| z.im).collect())),
            B: pairs(&values.b, [p, h, 2]),
            C,
            C1,
            C2,
            D: Param::from_tensor(reals(values.d)),
            log_step: Param::from_tensor(reals(values.log_step).reshape([p, 1])),
            settings: S5Settings {
                conj_sym: self.conj_sym,
                clip_eigs: self.clip_eigs,
                bidirectional: self.bidirectional,
                disc: self.disc,
                step_rescale: self.step_rescale,
            },
        })
    }
}

/// A (…, 2) [re, im] tensor as a complex tensor.
fn complex<B: Backend>(t: Tensor<B, 3>) -> ComplexTensor<B, 2> {
    let [a, b, _] = t.dims();
    ComplexTensor::new(
        t.clone().narrow(2, 0, 1).reshape([a, b]),
        t.narrow(2, 1, 1).reshape([a, b]),
    )
}

impl<B: SsmBackend> S5Ssm<B> {
    /// Features H.
    pub fn d_model(&self) -> usize {
        self.D.val().dims()[0]
    }

    /// Complex modes P'.
    pub fn modes(&self) -> usize {
        self.Lambda_re.val().dims()[0]
    }

    /// The settings the forward reads.
    pub fn settings(&self) -> S5Settings {
        self.settings
    }

    /// The zero state for `batch` sequences.
    pub fn initial_state(&self, batch: usize) -> S5State<B> {
        let d = self.D.val();
        S5State {
            x: Tensor::zeros([batch, 2 * self.modes()], (&d.device(), d.dtype())),
        }
    }

    /// Λ̄ and B̄ (P'), (P', H) as complex tensors: S5's discretisation.
    pub fn discretize(&self) -> (ComplexTensor<B, 1>, ComplexTensor<B, 2>) {
        let s = self.settings;
        let p = self.modes();
        let re = self.Lambda_re.val();
        let re = if s.clip_eigs {
            re.clamp_max(CLIP_EIGS_MAX)
        } else {
            re
        };
        let lambda = ComplexTensor::new(re, self.Lambda_im.val());
        let step = self
            .log_step
            .val()
            .reshape([p])
            .exp()
            .mul_scalar(s.step_rescale);
        let (lambda_bar, coef) = match s.disc {
            Discretization::Zoh => {
                // (Λ̄ − 1)/Λ = Δ·(e^{ΛΔ} − 1)/(ΛΔ), without the cancellation.
                let z = lambda.mul_real(&step);
                (z.exp(), z.exprel().mul_real(&step))
            }
            Discretization::Bilinear => {
                let half = lambda.mul_real(&step).mul_scalar(0.5);
                let bl = half.neg().add_scalar(1.0).recip();
                (bl.mul(&half.add_scalar(1.0)), bl.mul_real(&step))
            }
        };
        let coef = coef.map(|t| t.reshape([p, 1]));
        (lambda_bar, complex(self.B.val()).mul(&coef))
    }

    /// The discretised system as the real matrices the forward multiplies.
    fn discrete(&self) -> Result<Discrete<B>> {
        let p = self.modes();
        let (lambda_bar, b_bar) = self.discretize();
        let lambda = Tensor::cat(vec![lambda_bar.re, lambda_bar.im], 0);
        let input = Tensor::cat(vec![b_bar.re.transpose(), b_bar.im.transpose()], 1);
        let c = match (&self.C, &self.C1, &self.C2) {
            (Some(c), None, None) => complex(c.val()),
            (None, Some(c1), Some(c2)) => {
                let (c1, c2) = (complex(c1.val()), complex(c2.val()));
                ComplexTensor::new(
                    Tensor::cat(vec![c1.re, c2.re], 1),
                    Tensor::cat(vec![c1.im, c2.im], 1),
                )
            }
            _ => {
                return Err(Error::config(
                    "C",
                    "an S5 SSM has either C or both C1 and C2",
                ));
            }
        };
        let directions = if self.settings.bidirectional { 2 } else { 1 };
        let width = c.dims()[1];
        if width != directions * p {
            return Err(Error::shape(
                "C (H, P'·directions, 2)",
                &[self.d_model(), directions * p, 2],
                &[self.d_model(), width, 2],
            ));
        }
        let f = if self.settings.conj_sym { 2.0 } else { 1.0 };
        let rows: Vec<Tensor<B, 2>> = (0..directions)
            .flat_map(|k| {
                let part = c.map(|t| t.narrow(1, k * p, p).transpose());
                [part.re.mul_scalar(f), part.im.mul_scalar(-f)]
            })
            .collect();
        Ok(Discrete {
            lambda,
            input,
            output: Tensor::cat(rows, 0),
        })
    }

    /// (B, L, H) → (B, L, H) from zero states: the parallel view.
    pub fn forward(&self, u: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        Ok(self.run(u, None)?.0)
    }

    /// A chunk (B, L, H) from `state`; the outputs and the state after the
    /// chunk's last step. Fails for a bidirectional SSM (not causal).
    pub fn forward_with_state(
        &self,
        u: Tensor<B, 3>,
        state: &S5State<B>,
    ) -> Result<(Tensor<B, 3>, S5State<B>)> {
        self.causal("forward_with_state")?;
        let (y, last) = self.run(u, Some(state.x.clone()))?;
        Ok((y, S5State { x: last }))
    }

    /// One step u (B, H) from `state`: x = Λ̄x + B̄u, y = f·Re(C̃x) + D ⊙ u.
    pub fn step(&self, u: Tensor<B, 2>, state: &S5State<B>) -> Result<(Tensor<B, 2>, S5State<B>)> {
        let [batch, h] = u.dims();
        let (y, state) = self.forward_with_state(u.reshape([batch, 1, h]), state)?;
        Ok((y.reshape([batch, h]), state))
    }

    fn causal(&self, view: &str) -> Result<()> {
        if self.settings.bidirectional {
            return Err(Error::config(
                "bidirectional",
                format!("a bidirectional S5 layer is not causal: it has no {view} view"),
            ));
        }
        Ok(())
    }

    /// The outputs and the forward scan's last state.
    fn run(
        &self,
        u: Tensor<B, 3>,
        x0: Option<Tensor<B, 2>>,
    ) -> Result<(Tensor<B, 3>, Tensor<B, 2>)> {
        let [batch, len, h] = u.dims();
        if h != self.d_model() {
            return Err(Error::shape(
                "S5 input u (B, L, H)",
                &[batch, len, self.d_model()],
                &[batch, len, h],
            ));
        }
        if len == 0 {
            return Err(Error::shape(
                "S5 input u (B, L ≥ 1, H)",
                &[batch, 1, h],
                &[batch, len, h],
            ));
        }
        let system = self.discrete()?;
        let width = 2 * self.modes();
        let rows = batch * len;
        let flat = u.clone().reshape([rows, h]);
        let bu = matmul(flat.clone(), system.input)?.reshape([batch, len, width]);
        let x = diagonal_scan(system.lambda.clone(), bu.clone(), x0, false)?;
        let last = x.clone().narrow(1, len - 1, 1).reshape([batch, width]);
        let states = if self.settings.bidirectional {
            let back = diagonal_scan(system.lambda, bu, None, true)?;
            Tensor::cat(vec![x, back], 2)
        } else {
            x
        };
        let directions = states.dims()[2];
        let y = matmul(states.reshape([rows, directions]), system.output)?;
        let y = y + flat * self.D.val().reshape([1, h]);
        Ok((y.reshape([batch, len, h]), last))
    }
}

#[cfg(test)]
mod tests {
    use burn::backend::Autodiff;
    use burn::tensor::{DType, Tensor};
    use burn_flex::Flex;
    use rand::SeedableRng;

    use super::*;
    use crate::io::{HostTensor, cast_params};

    type B = Autodiff<Flex>;

    fn host<const D: usize>(t: &Tensor<B, D>) -> Vec<f64> {
        HostTensor::from_tensor(t).data
    }

    fn max_diff(a: &[f64], b: &[f64]) -> f64 {
        a.iter().zip(b).fold(0.0, |m, (x, y)| m.max((x - y).abs()))
    }

    /// The three views agree in f64: the parallel scan, a prefix then a
    /// chunk from its state, and one step at a time.
    #[test]
    fn forward_chunks_and_steps_agree() {
        let device = Default::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(3);
        for disc in [Discretization::Zoh, Discretization::Bilinear] {
            let config = S5Config {
                ssm_size: 8,
                blocks: 2,
                disc,
                activation: S5Activation::FullGlu,
                ..S5Config::new(6)
            };
            let block = cast_params(config.init::<B>(&device, &mut rng).unwrap(), DType::F64);
            let u = crate::random::normal::<B, 3>(&mut rng, [2, 11, 6], 0.0, 1.0, &device)
                .cast(DType::F64);
            let full = host(&block.forward(u.clone()).unwrap());
            let start = block.initial_state(2);
            let (head, state) = block
                .forward_with_state(u.clone().narrow(1, 0, 4), &start)
                .unwrap();
            let (tail, _) = block
                .forward_with_state(u.clone().narrow(1, 4, 7), &state)
                .unwrap();
            let chunked = host(&Tensor::cat(vec![head, tail], 1));
            assert!(max_diff(&chunked, &full) < 1e-12, "{disc:?} chunked");
            let mut state = start;
            let mut steps = Vec::new();
            for t in 0..11 {
                let (y, next) = block
                    .step(u.clone().narrow(1, t, 1).reshape([2, 6]), &state)
                    .unwrap();
                steps.push(y.reshape([2, 1, 6]));
                state = next;
            }
            let stepped = host(&Tensor::cat(steps, 1));
            assert!(max_diff(&stepped, &full) < 1e-12, "{disc:?} stepped");
        }
    }

    /// A bidirectional SSM has no stateful views; settings that cannot
    /// work are refused, naming the field.
    #[test]
    fn refuses_stateful_bidirectional_views_and_bad_settings() {
        let device = Default::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(4);
        let config = S5Config {
            bidirectional: true,
            ssm_size: 4,
            ..S5Config::new(3)
        };
        let block = config.init::<B>(&device, &mut rng).unwrap();
        let u = Tensor::<B, 3>::zeros([1, 5, 3], &device);
        assert!(block.forward(u.clone()).is_ok());
        let err = block
            .forward_with_state(u, &block.initial_state(1))
            .unwrap_err();
        assert!(err.to_string().contains("bidirectional"), "{err}");
        let odd = S5Config {
            ssm_size: 6,
            blocks: 2,
            ..S5Config::new(3)
        };
        let err = odd.validate().unwrap_err();
        assert!(err.to_string().contains("ssm_size"), "{err}");
        let err = S5Config {
            blocks: 5,
            ..S5Config::new(3)
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("blocks"), "{err}");
        let err = S5Config {
            step_rescale: 0.0,
            ..S5Config::new(3)
        }
        .validate()
        .unwrap_err();
        assert!(err.to_string().contains("step_rescale"), "{err}");
        let wide = Tensor::<B, 3>::zeros([1, 5, 4], &device);
        let err = block.forward(wide).unwrap_err();
        assert!(err.to_string().contains("S5 input"), "{err}");
    }

    /// The parameter count the config states is the initialised module's.
    #[test]
    fn param_count_matches_the_module() {
        let device = Default::default();
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(5);
        for (activation, bidirectional, c_init) in [
            (S5Activation::Gelu, false, CInit::LecunNormal),
            (S5Activation::FullGlu, true, CInit::TruncStandardNormal),
            (S5Activation::HalfGlu2, true, CInit::ComplexNormal),
        ] {
            let config = S5Config {
                activation,
                bidirectional,
                c_init,
                ssm_size: 8,
                ..S5Config::new(5)
            };
            let block = config.init::<B>(&device, &mut rng).unwrap();
            assert_eq!(
                block.num_params(),
                config.param_count().unwrap(),
                "{config:?}"
            );
        }
    }
}
