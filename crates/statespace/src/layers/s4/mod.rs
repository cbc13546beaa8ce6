//! S4 and S4D convolution layers (state-spaces/s4 `FFTConv` with an
//! `SSMKernelDPLR` or `SSMKernelDiag` kernel): y = act(K ∗ u + D·u).

#![allow(non_snake_case)] // parameter `D` follows the reference name

mod config;
mod init;
mod kernel;
mod recurrent;

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use faer::c64;
use rand::Rng;
use rand_distr::{Distribution, StandardNormal, Uniform};

pub use config::{KernelMode, S4Config};
pub use init::{InitialSsm, SsmInit, initial_ssm};
pub use kernel::SsmKernel;
pub use recurrent::{S4Recurrent, S4State};

use crate::error::{Error, Result};
use crate::io::{HostTensor, load_params};
use crate::kernel::dplr::DplrSystem;
use crate::layers::activation::Activation;
use crate::ops::{SsmBackend, causal_conv, two_sided_conv};

/// An S4 / S4D layer over H channels.
#[derive(Module, Debug)]
pub struct S4<B: Backend> {
    /// The SSM kernel.
    pub kernel: SsmKernel<B>,
    /// Skip connection D, (channels, H).
    pub D: Param<Tensor<B, 2>>,
    /// Output activation.
    #[module(skip)]
    pub activation: Activation,
    /// Whether an anti-causal kernel is added.
    #[module(skip)]
    pub bidirectional: bool,
}

/// Uploads f64 values as a tensor of the device's default float dtype.
fn param<B: Backend, const D: usize>(
    values: Vec<f64>,
    shape: [usize; D],
    device: &B::Device,
) -> Param<Tensor<B, D>> {
    Param::from_tensor(Tensor::from_data(
        burn::tensor::TensorData::new(values, shape),
        device,
    ))
}

/// Complex values as a real view (…, 2).
fn real_view(values: &[c64]) -> Vec<f64> {
    values.iter().flat_map(|z| [z.re, z.im]).collect()
}

impl S4Config {
    /// Builds a freshly initialised layer on `device`, drawing random
    /// values (Δ, C, D) from `rng`.
    pub fn init<B: SsmBackend>(&self, device: &B::Device, rng: &mut impl Rng) -> Result<S4<B>> {
        self.validate()?;
        let (h, n, s, rank) = (self.d_model, self.d_state, self.n_ssm(), self.rank);
        let nh = n / 2;
        let kc = self.kernel_channels();
        let ssm = initial_ssm(self.init, n, rank)?;

        // Stored parameters, clamped as s4 does (−Re A, −Im A ≥ 1e-4).
        let a_real: Vec<f64> = ssm.lambda.iter().map(|l| (-l.re).max(1e-4).ln()).collect();
        let a_imag: Vec<f64> = ssm.lambda.iter().map(|l| (-l.im).max(1e-4)).collect();
        let lambda: Vec<c64> = a_real
            .iter()
            .zip(&a_imag)
            .map(|(r, i)| c64::new(-r.exp(), -i))
            .collect();
        let repeat = |v: &[f64]| -> Vec<f64> { (0..s).flat_map(|_| v.iter().copied()).collect() };

        let (log_min, log_max) = (self.dt_min.ln(), self.dt_max.ln());
        let log_dt: Vec<f64> = if log_max > log_min {
            let dist = Uniform::new(log_min, log_max).expect("validated dt range");
            (0..h).map(|_| dist.sample(rng)).collect()
        } else {
            vec![log_min; h]
        };
        let normal = |rng: &mut dyn rand::RngCore| -> f64 { StandardNormal.sample(rng) };
        // C ~ complex normal with E|C|² = 1.
        let mut c: Vec<c64> = (0..kc * h * nh)
            .map(|_| c64::new(normal(rng), normal(rng)) * std::f64::consts::FRAC_1_SQRT_2)
            .collect();
        let d: Vec<f64> = (0..self.channels * h).map(|_| normal(rng)).collect();

        let (p, l_kernel) = match self.mode {
            KernelMode::Diag => (None, 0),
            KernelMode::Dplr => {
                let l_kernel = self.l_max.expect("validated");
                // Attune C to C̃ = C(I − Āᴸ) channel by channel.
                for (hi, log_dt) in log_dt.iter().enumerate() {
                    let system = DplrSystem {
                        lambda: lambda.clone(),
                        b: ssm.b.clone(),
                        p: ssm.p.clone(),
                        dt: log_dt.exp(),
                    };
                    for ci in 0..kc {
                        let at = (ci * h + hi) * nh;
                        let tilde = system.c_tilde(&c[at..at + nh], l_kernel);
                        c[at..at + nh].copy_from_slice(&tilde);
                    }
                }
                let p_flat: Vec<c64> = ssm
                    .p
                    .iter()
                    .flat_map(|row| (0..s).flat_map(move |_| row.iter().copied()))
                    .collect();
                (
                    Some(param(real_view(&p_flat), [rank, s, nh, 2], device)),
                    l_kernel,
                )
            }
        };
        let b_flat: Vec<c64> = (0..s).flat_map(|_| ssm.b.iter().copied()).collect();
        Ok(S4 {
            kernel: SsmKernel {
                inv_dt: param(log_dt, [h, 1], device),
                A_real: param(repeat(&a_real), [s, nh], device),
                A_imag: param(repeat(&a_imag), [s, nh], device),
                B: param(real_view(&b_flat), [1, s, nh, 2], device),
                C: param(real_view(&c), [kc, h, nh, 2], device),
                P: p,
                l_kernel,
                mode: self.mode,
                disc: self.disc,
            },
            D: param(d, [self.channels, h], device),
            activation: self.activation,
            bidirectional: self.bidirectional,
        })
    }
}

impl<B: SsmBackend> S4<B> {
    /// Model width H.
    pub fn d_model(&self) -> usize {
        self.kernel.d_model()
    }

    /// Output channels per input channel.
    pub fn channels(&self) -> usize {
        self.D.val().dims()[0]
    }

    /// Replaces every parameter by `lookup(name)` (names as in
    /// state-spaces/s4: `kernel.inv_dt`, `kernel.A_real`, `kernel.A_imag`,
    /// `kernel.B`, `kernel.C`, `kernel.P`, `D`). For DPLR, `l_kernel` is the
    /// length the stored C̃ is attuned to (s4's buffer `kernel.l_kernel`).
    pub fn load(
        mut self,
        lookup: impl FnMut(&str) -> Result<HostTensor<f64>>,
        l_kernel: Option<usize>,
    ) -> Result<Self> {
        if self.kernel.mode == KernelMode::Dplr {
            match l_kernel {
                Some(l) if l >= 1 => self.kernel.l_kernel = l,
                _ => {
                    return Err(Error::MissingTensor {
                        name: "kernel.l_kernel".into(),
                        source_name: "the S4 state dict (the length C̃ is attuned to)".into(),
                    });
                }
            }
        }
        load_params(self, lookup)
    }

    /// Re-attunes a DPLR kernel's C̃ to a longer length `len` (no-op for
    /// diagonal kernels or when `len` ≤ the current length): C is recovered
    /// from C̃ and C̃ = C(I − Āᴸ) recomputed, in f64.
    pub fn attune(&mut self, len: usize) {
        let k = &mut self.kernel;
        if k.mode != KernelMode::Dplr || len <= k.l_kernel {
            return;
        }
        let systems = k.dplr_systems();
        let (c_tilde, [kc, h, nh]) = k.c_host();
        let mut out = vec![c64::new(0.0, 0.0); kc * h * nh];
        for (hi, system) in systems.iter().enumerate() {
            let disc = system.bilinear();
            for ci in 0..kc {
                let at = (ci * h + hi) * nh;
                let full = system.c_from_tilde(&c_tilde[at..at + nh], k.l_kernel, &disc);
                out[at..at + nh].copy_from_slice(&system.c_tilde(&full[..nh], len));
            }
        }
        let current = k.C.val();
        let device = current.device();
        let dtype = current.dtype();
        k.C = k.C.clone().map(|old| {
            crate::io::tensor_from_f64::<B, 4>(real_view(&out), [kc, h, nh, 2], &device, dtype)
                .set_require_grad(old.is_require_grad())
        });
        k.l_kernel = len;
    }

    /// The parallel (convolution) view: x (B, L, H) → y (B, L, channels·H),
    /// y = act(K ∗ u + D·u) per channel, plus the anti-causal kernel's
    /// output when bidirectional.
    pub fn forward(&self, x: Tensor<B, 3>) -> Result<Tensor<B, 3>> {
        let [batch, len, h] = x.dims();
        if h != self.d_model() {
            return Err(Error::shape(
                "input (batch, length, d_model)",
                &[batch, len, self.d_model()],
                &[batch, len, h],
            ));
        }
        let channels = self.channels();
        let k = self.kernel.kernel(len)?; // (kc, H, L)
        // y = K ∗ u + D u, channel-last: (B, L, C·H); bidirectional adds
        // y_t += Σ_{d ≥ 1} k₁[d − 1] u_{t+d} in the same pass.
        let y = if self.bidirectional {
            let k0 = k.clone().narrow(0, 0, channels);
            two_sided_conv(x, k0, k.narrow(0, channels, channels), self.D.val())?
        } else {
            // A causal layer's kernel is its channels' alone: no narrow
            // (whose backward would write ∂k into a zeroed copy).
            causal_conv(x, k, self.D.val())?
        };
        self.activation.apply(y)
    }

    /// The recurrent view: discretises the layer once for O(1)-per-token
    /// stepping and chunked streaming (s4's `setup_step`). Fails for
    /// bidirectional layers, which see the future.
    pub fn recurrent(&self) -> Result<S4Recurrent<B>> {
        if self.bidirectional {
            return Err(Error::config(
                "bidirectional",
                "a bidirectional layer has no recurrent view",
            ));
        }
        S4Recurrent::new(self)
    }
}
