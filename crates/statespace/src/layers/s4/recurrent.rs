//! The recurrent view of an S4 / S4D layer: x_t = Ā x_{t−1} + B̄ u_t,
//! y_t = act(s·Re(C x_t) + D u_t), with complex state.
//!
//! S4D keeps its diagonal Ā over the Nh stored modes (s = 2 adds the
//! conjugate half). S4 (DPLR) uses s4's dense mode: Ā over all 2Nh modes
//! (s = 1), and C recovered from the stored C̃ by C = C̃(I − Āᴸ)⁻¹.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use faer::c64;

use super::{KernelMode, S4};
use crate::complex::ComplexTensor;
use crate::discretize::{Discretization, diagonal};
use crate::error::{Error, Result};
use crate::io::tensor_from_f64;
use crate::kernel::vandermonde::vandermonde_kernel;
use crate::layers::activation::Activation;
use crate::ops::matmul::complex_matmul;
use crate::ops::{SsmBackend, causal_conv, matmul};

enum Transition<B: Backend> {
    /// Ā diagonal, (H, M), with log Ā for closed-form powers.
    Diagonal {
        a: ComplexTensor<B, 2>,
        log_a: ComplexTensor<B, 2>,
    },
    /// Ā dense, (H, M, M).
    Dense { a: ComplexTensor<B, 3> },
}

/// A discretised S4 / S4D layer ready for recurrent use.
pub struct S4Recurrent<B: Backend> {
    transition: Transition<B>,
    /// B̄, (H, M).
    b: ComplexTensor<B, 2>,
    /// C, (channels, H, M).
    c: ComplexTensor<B, 3>,
    /// 2 when only one of each conjugate pair is kept, else 1.
    scale: f64,
    /// D, (channels, H).
    d: Tensor<B, 2>,
    activation: Activation,
}

/// The recurrent state of an S4 / S4D layer: x, complex (B, H, M).
#[derive(Debug, Clone)]
pub struct S4State<B: Backend> {
    /// Hidden state x, (batch, H, M).
    pub x: ComplexTensor<B, 3>,
}

impl<B: SsmBackend> S4Recurrent<B> {
    pub(super) fn new(layer: &S4<B>) -> Result<Self> {
        let k = &layer.kernel;
        let c = k.c();
        let (transition, b, scale) = match k.mode {
            KernelMode::Diag => {
                let dt = k.dt().unsqueeze_dim::<2>(1);
                let dt_a = k.a().mul_real(&dt);
                let (a, b) = diagonal(&dt_a, &k.b().mul_real(&dt), k.disc);
                let log_a = match k.disc {
                    Discretization::Zoh => dt_a,
                    Discretization::Bilinear => a.log(),
                };
                (Transition::Diagonal { a, log_a }, b, 2.0)
            }
            KernelMode::Dplr => return Self::dense_from_dplr(layer),
        };
        Ok(Self {
            transition,
            b,
            c,
            scale,
            d: layer.D.val(),
            activation: layer.activation,
        })
    }

    /// Dense bilinear Ā, B̄ over the expanded 2Nh modes, and C from C̃, in f64.
    fn dense_from_dplr(layer: &S4<B>) -> Result<Self> {
        let k = &layer.kernel;
        let systems = k.dplr_systems();
        let (c_tilde, [kc, h, nh]) = k.c_host();
        let m = 2 * nh;
        let mut a = vec![c64::new(0.0, 0.0); h * m * m];
        let mut b = vec![c64::new(0.0, 0.0); h * m];
        let mut c = vec![c64::new(0.0, 0.0); kc * h * m];
        for (hi, system) in systems.iter().enumerate() {
            let disc = system.bilinear();
            for i in 0..m {
                for j in 0..m {
                    a[(hi * m + i) * m + j] = disc.a[(i, j)];
                }
            }
            b[hi * m..(hi + 1) * m].copy_from_slice(&disc.b);
            for ci in 0..kc {
                let at = (ci * h + hi) * nh;
                let full = system.c_from_tilde(&c_tilde[at..at + nh], k.l_kernel, &disc);
                c[(ci * h + hi) * m..(ci * h + hi + 1) * m].copy_from_slice(&full);
            }
        }
        if a.iter()
            .chain(&b)
            .chain(&c)
            .any(|z| !z.re.is_finite() || !z.im.is_finite())
        {
            return Err(Error::NonFinite {
                name: "kernel".into(),
                message: "discretised recurrence is not finite (check inv_dt and A)".into(),
            });
        }
        let reference = layer.D.val();
        let device = reference.device();
        let dtype = reference.dtype();
        let upload = |v: &[c64], shape: Vec<usize>| -> (Vec<f64>, Vec<f64>, Vec<usize>) {
            (
                v.iter().map(|z| z.re).collect(),
                v.iter().map(|z| z.im).collect(),
                shape,
            )
        };
        let to3 = |(re, im, s): (Vec<f64>, Vec<f64>, Vec<usize>)| {
            let shape = [s[0], s[1], s[2]];
            ComplexTensor::new(
                tensor_from_f64(re, shape, &device, dtype),
                tensor_from_f64(im, shape, &device, dtype),
            )
        };
        let (b_re, b_im, _) = upload(&b, vec![h, m]);
        Ok(Self {
            transition: Transition::Dense {
                a: to3(upload(&a, vec![h, m, m])),
            },
            b: ComplexTensor::new(
                tensor_from_f64(b_re, [h, m], &device, dtype),
                tensor_from_f64(b_im, [h, m], &device, dtype),
            ),
            c: to3(upload(&c, vec![kc, h, m])),
            scale: 1.0,
            d: layer.D.val(),
            activation: layer.activation,
        })
    }

    fn dims(&self) -> (usize, usize, usize) {
        let [channels, h, m] = self.c.dims();
        (channels, h, m)
    }

    /// The zero state for `batch` sequences.
    pub fn initial_state(&self, batch: usize) -> S4State<B> {
        let (_, h, m) = self.dims();
        let zeros = Tensor::zeros([batch, h, m], (&self.d.device(), self.d.dtype()));
        S4State {
            x: ComplexTensor::new(zeros.clone(), zeros),
        }
    }

    fn check_state(&self, state: &S4State<B>, batch: usize) -> Result<()> {
        let (_, h, m) = self.dims();
        let got = state.x.dims();
        if got != [batch, h, m] {
            return Err(Error::shape(
                "state (batch, d_model, modes)",
                &[batch, h, m],
                &got,
            ));
        }
        Ok(())
    }

    /// Ā x for x (B, H, M).
    fn transition(&self, x: &ComplexTensor<B, 3>) -> Result<ComplexTensor<B, 3>> {
        Ok(match &self.transition {
            Transition::Diagonal { a, .. } => x.mul(&a.map(|t| t.unsqueeze_dim::<3>(0))),
            Transition::Dense { a } => {
                let x_hmb = x.map(|t| t.permute([1, 2, 0]));
                complex_matmul(a, &x_hmb)?.map(|t| t.permute([2, 0, 1]))
            }
        })
    }

    /// s·Re(C x) for x (B, H, M) → (B, channels, H).
    fn readout(&self, x: &ComplexTensor<B, 3>) -> Result<Tensor<B, 3>> {
        let x_hbm = x.map(|t| t.swap_dims(0, 1)); // (H, B, M)
        let c_hmc = self.c.map(|t| t.permute([1, 2, 0])); // (H, M, C)
        let re = matmul(x_hbm.re, c_hmc.re)? - matmul(x_hbm.im, c_hmc.im)?; // (H, B, C)
        Ok(re.permute([1, 2, 0]).mul_scalar(self.scale))
    }

    fn finish(&self, y: Tensor<B, 3>, u: Tensor<B, 2>) -> Result<Tensor<B, 2>> {
        let [batch, channels, h] = y.dims();
        let y = y + self.d.clone().unsqueeze_dim::<3>(0) * u.unsqueeze_dim::<3>(1);
        self.activation.apply(y.reshape([batch, channels * h]))
    }

    /// One step: u (B, H) → y (B, channels·H), the new state.
    pub fn step(&self, state: &S4State<B>, u: Tensor<B, 2>) -> Result<(Tensor<B, 2>, S4State<B>)> {
        let [batch, h] = u.dims();
        if h != self.dims().1 {
            return Err(Error::shape(
                "input (batch, d_model)",
                &[batch, self.dims().1],
                &[batch, h],
            ));
        }
        self.check_state(state, batch)?;
        let x = self.transition(&state.x)?.add(
            &self
                .b
                .map(|t| t.unsqueeze_dim::<3>(0))
                .mul_real(&u.clone().unsqueeze_dim::<3>(2)),
        );
        let y = self.readout(&x)?;
        Ok((self.finish(y, u)?, S4State { x }))
    }

    /// A chunk: u (B, L, H) from `state` → y (B, L, channels·H) and the
    /// state after the chunk; equal to L calls of [`Self::step`].
    pub fn forward_with_state(
        &self,
        state: &S4State<B>,
        u: Tensor<B, 3>,
    ) -> Result<(Tensor<B, 3>, S4State<B>)> {
        let [batch, len, h] = u.dims();
        if h != self.dims().1 {
            return Err(Error::shape(
                "input (batch, length, d_model)",
                &[batch, len, self.dims().1],
                &[batch, len, h],
            ));
        }
        self.check_state(state, batch)?;
        if len == 1 {
            // One token is one step: cheaper than the chunk formulas, and
            // the path decoding takes.
            let (y, next) = self.step(state, u.squeeze_dim::<2>(1))?;
            return Ok((y.unsqueeze_dim::<3>(1), next));
        }
        match &self.transition {
            Transition::Dense { .. } => {
                let mut x = state.clone();
                let mut ys = Vec::with_capacity(len);
                for t in 0..len {
                    let (y, next) = self.step(&x, u.clone().narrow(1, t, 1).squeeze_dim::<2>(1))?;
                    ys.push(y.unsqueeze_dim::<3>(1));
                    x = next;
                }
                Ok((Tensor::cat(ys, 1), x))
            }
            Transition::Diagonal { a, log_a } => {
                let (channels, _, m) = self.dims();
                let u_bhl = u.clone().swap_dims(1, 2); // (B, H, L)
                // Input part: the convolution with K_l = 2 Re Σ C B̄ Āˡ.
                let coef = self.c.mul(&self.b.map(|t| t.unsqueeze_dim::<3>(0)));
                let kernel = vandermonde_kernel(log_a, &coef, len)?.mul_scalar(self.scale / 2.0);
                // With the skip term, channel-last: (B, L, C·H).
                let y_in = causal_conv(u.clone(), kernel, self.d.clone())?;
                // State part: y_t += s·Re Σ C Āᵗ⁺¹ x₀.
                let coef_state = self
                    .c
                    .map(|t| t.unsqueeze_dim::<4>(0)) // (1, C, H, M)
                    .mul(
                        &state
                            .x
                            .mul(&a.map(|t| t.unsqueeze_dim::<3>(0)))
                            .map(|t| t.unsqueeze_dim::<4>(1)),
                    )
                    .map(|t| t.reshape([batch * channels, h, m]));
                let y_state = vandermonde_kernel(log_a, &coef_state, len)?
                    .mul_scalar(self.scale / 2.0)
                    .reshape([batch, channels, h, len]);
                let y_state = y_state.reshape([batch, channels * h, len]).swap_dims(1, 2);
                let y = self.activation.apply(y_in + y_state)?;
                // New state: Āᴸ x₀ + Σ_l Āᴸ⁻¹⁻ˡ B̄ u_l.
                let device = u_bhl.device();
                let back: Vec<f64> = (0..len).map(|l| (len - 1 - l) as f64).collect();
                let back = tensor_from_f64(back, [1, len, 1], &device, u_bhl.dtype());
                let powers = log_a.map(|t| t.unsqueeze_dim::<3>(1)).mul_real(&back).exp(); // (H, L, M)
                let u_hbl = u_bhl.swap_dims(0, 1); // (H, B, L)
                let driven = ComplexTensor::new(
                    matmul(u_hbl.clone(), powers.re)?,
                    matmul(u_hbl, powers.im)?,
                ) // (H, B, M)
                .map(|t| t.swap_dims(0, 1))
                .mul(&self.b.map(|t| t.unsqueeze_dim::<3>(0)));
                let lf = len as f64;
                let decay = log_a.mul_scalar(lf).exp().map(|t| t.unsqueeze_dim::<3>(0));
                let x = state.x.mul(&decay).add(&driven);
                Ok((y, S4State { x }))
            }
        }
    }
}
