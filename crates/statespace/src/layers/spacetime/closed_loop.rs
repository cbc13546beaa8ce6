//! SpaceTime's closed-loop SSMs (`ClosedLoopCompanionSSM`,
//! `ClosedLoopShiftSSM`), the decoder that forecasts.
//!
//! With A = companion(norm(a)) (the shift SSM: A = S, b = e₀), bn, cn, kn the
//! normed b, c, k:
//! - **closed** (forecast `horizon` steps from `lag` inputs): the state
//!   after the lag x_L = Σ_i u_i A^{L−1−i} b with the *raw* b, then
//!   z_j = (A + bn knᵀ)^j x_L for j < horizon; y_j = cnᵀ z_j and the next
//!   input u_j = kᵀ z_j with the *raw* k.
//! - **open** (teacher forcing over the lag): y = K ∗ u with K_l = cnᵀ Aˡ bn,
//!   and the next-input prediction y_u = K_u ∗ u with K_u,l = k̂ᵀ Aˡ bn, where
//!   k̂ = norm(k) at the layer's order *even when it is 0* (a count of the
//!   non-zeros).
//! - with `norm_order` 0 the feedback uses b for kn (A + b bᵀ).
//!
//! Those three asymmetries are the official code's, reproduced as they are.

use burn::module::{Module, Param};
use burn::tensor::Tensor;
use burn::tensor::backend::Backend;
use rand::Rng;

use super::config::{ChannelLayout, SsmKwargs};
use super::conv::convolve_rows;
use super::krylov::{companion_matrix, krylov_kernel, krylov_states, shift_matrix};
use super::norm::row_norm;
use super::ssm::SsmKind;
use crate::error::{Error, Result};
use crate::io::{HostTensor, load_params};
use crate::ops::{SsmBackend, matmul};
use crate::random::normal;

/// A closed-loop companion or shift SSM, one kernel per channel.
#[derive(Module, Debug)]
pub struct ClosedLoopSsm<B: Backend> {
    /// Companion coefficients a (D, N); the shift SSM has none.
    pub a: Option<Param<Tensor<B, 2>>>,
    /// Input vectors b (D, N); the shift SSM has none (b = e₀).
    pub b: Option<Param<Tensor<B, 2>>>,
    /// Output vectors c (D, N).
    pub c: Param<Tensor<B, 2>>,
    /// Feedback vectors k (D, N): the state's prediction of the next input.
    pub k: Param<Tensor<B, 2>>,
    #[module(skip)]
    layout: ChannelLayout,
    #[module(skip)]
    norm_order: u32,
    #[module(skip)]
    horizon: usize,
}

/// The closed-loop outputs: the forecast y and the predicted inputs, each
/// (B, horizon, D).
#[derive(Debug, Clone)]
pub struct Forecast<B: Backend> {
    /// y_j = cnᵀ z_j.
    pub y: Tensor<B, 3>,
    /// u_j = kᵀ z_j.
    pub u_next: Tensor<B, 3>,
}

/// The open-loop outputs, each (B, L, D).
#[derive(Debug, Clone)]
pub struct TeacherForced<B: Backend> {
    /// y = K ∗ u.
    pub y: Tensor<B, 3>,
    /// y_u = K_u ∗ u: each step's prediction of the next input.
    pub y_u: Tensor<B, 3>,
}

impl SsmKwargs {
    /// A fresh closed-loop SSM of `kind` (a, b, c, k ~ N(0, 1)). Fails
    /// without a horizon, with a learned initial state or a layout with more
    /// than one channel per kernel (the official class assumes one).
    pub fn init_closed<B: Backend>(
        &self,
        kind: SsmKind,
        device: &B::Device,
        rng: &mut impl Rng,
    ) -> Result<ClosedLoopSsm<B>> {
        let layout = self.layout(1)?;
        if self.n_kernels != self.model_dim {
            return Err(Error::config(
                "n_kernels",
                format!(
                    "a closed-loop SSM has one kernel per channel ({} ≠ model_dim {})",
                    self.n_kernels, self.model_dim
                ),
            ));
        }
        if self.use_initial {
            return Err(Error::config(
                "use_initial",
                "a learned initial state is not implemented (nor officially)",
            ));
        }
        let horizon = self
            .horizon
            .filter(|&h| h > 0)
            .ok_or_else(|| Error::config("horizon", "a closed-loop SSM needs a horizon ≥ 1"))?;
        let shape = [self.n_kernels, self.kernel_dim];
        let mut draw = |shape: [usize; 2]| Param::from_tensor(normal(rng, shape, 0.0, 1.0, device));
        let (a, b) = match kind {
            SsmKind::Companion => (Some(draw(shape)), Some(draw(shape))),
            SsmKind::Shift => (None, None),
        };
        let (c, k) = (draw(shape), draw(shape));
        Ok(ClosedLoopSsm {
            a,
            b,
            c,
            k,
            layout,
            norm_order: self.norm_order,
            horizon,
        })
    }
}

/// The matrices of one call: A (D, N, N), the raw and normed b, the normed c.
struct System<B: Backend> {
    a: Tensor<B, 3>,
    b: Tensor<B, 2>,
    bn: Tensor<B, 2>,
    cn: Tensor<B, 2>,
}

impl<B: SsmBackend> ClosedLoopSsm<B> {
    /// Replaces every parameter by `lookup(name)` (the official names `a`,
    /// `b`, `c`, `k`; `skip`, unused officially, and the shift SSM's
    /// buffers are not read).
    pub fn load(self, lookup: impl FnMut(&str) -> Result<HostTensor<f64>>) -> Result<Self> {
        load_params(self, lookup)
    }

    /// Forecast steps.
    pub fn horizon(&self) -> usize {
        self.horizon
    }

    fn normed(&self, x: Tensor<B, 2>) -> Tensor<B, 2> {
        if self.norm_order > 0 {
            row_norm(x, self.norm_order)
        } else {
            x
        }
    }

    fn system(&self) -> System<B> {
        let c = self.c.val();
        let [d, n] = c.dims();
        let (a, b) = match (&self.a, &self.b) {
            (Some(a), Some(b)) => (companion_matrix(self.normed(a.val())), b.val()),
            _ => {
                let shift = shift_matrix(n, &c).unsqueeze_dim::<3>(0).repeat_dim(0, d);
                let e0 = c.zeros_like().narrow(1, 0, 1).ones_like();
                let b = Tensor::cat(vec![e0, c.zeros_like().narrow(1, 1, n - 1)], 1);
                (shift, b)
            }
        };
        System {
            a,
            bn: self.normed(b.clone()),
            b,
            cn: self.normed(c),
        }
    }

    fn check_input(&self, u: &Tensor<B, 3>) -> Result<()> {
        let [batch, len, channels] = u.dims();
        if channels != self.layout.channels || len == 0 {
            return Err(Error::shape(
                "input (batch, lag ≥ 1, model_dim)",
                &[batch, len.max(1), self.layout.channels],
                &[batch, len, channels],
            ));
        }
        Ok(())
    }

    /// The closed loop: u (B, lag, D) → the forecast of `horizon` steps.
    pub fn forecast(&self, u: Tensor<B, 3>) -> Result<Forecast<B>> {
        self.check_input(&u)?;
        let [_, lag, d] = u.dims();
        let sys = self.system();
        let n = sys.b.dims()[1];
        // x_L[b, h] = Σ_i u[b, i, h]·A_h^{L−1−i} b_h: the Krylov states read
        // backwards in time, contracted with u.
        let states = krylov_states(lag, sys.a.clone(), sys.b.clone().reshape([d, n, 1]))?
            .reshape([d, n, lag])
            .flip([2]);
        let u_t = u.permute([2, 0, 1]); // (D, B, L)
        let x_lag = matmul(u_t, states.swap_dims(1, 2))?; // (D, B, N)
        // z_j = G^j x_L with G = A + bn knᵀ (kn = b at norm order 0), read
        // as y_j = cnᵀ z_j and u_j = kᵀ z_j. The rows cnᵀ G^j and kᵀ G^j are
        // the Krylov states of Gᵀ (O(D·N²·T)), then one contraction with
        // x_L per row (O(D·T·N·B)); the states z_j themselves, O(D·N²·T·B),
        // are never formed.
        let kn = if self.norm_order > 0 {
            self.normed(self.k.val())
        } else {
            sys.b.clone()
        };
        let feedback = sys.a + sys.bn.reshape([d, n, 1]) * kn.reshape([d, 1, n]);
        let readers = Tensor::cat(
            vec![sys.cn.reshape([d, n, 1]), self.k.val().reshape([d, n, 1])],
            2,
        );
        let rows = krylov_states(self.horizon, feedback.swap_dims(1, 2), readers)?; // (D, N, T, 2)
        let x_lag = x_lag.swap_dims(1, 2); // (D, N, B)
        let read = |which: usize| -> Result<Tensor<B, 3>> {
            let r = rows
                .clone()
                .narrow(3, which, 1)
                .reshape([d, n, self.horizon])
                .swap_dims(1, 2); // (D, T, N)
            Ok(matmul(r, x_lag.clone())?.permute([2, 1, 0])) // (B, T, D)
        };
        Ok(Forecast {
            y: read(0)?,
            u_next: read(1)?,
        })
    }

    /// The open loop (teacher forcing): u (B, L, D) → y and y_u (B, L, D).
    pub fn teacher_forced(&self, u: Tensor<B, 3>) -> Result<TeacherForced<B>> {
        self.check_input(&u)?;
        let len = u.dims()[1];
        let sys = self.system();
        let k_hat = row_norm(self.k.val(), self.norm_order);
        let kernel = krylov_kernel(len, sys.a.clone(), sys.bn.clone(), sys.cn)?;
        let kernel_u = krylov_kernel(len, sys.a, sys.bn, k_hat)?;
        Ok(TeacherForced {
            y: convolve_rows(u.clone(), kernel, self.layout, None)?,
            y_u: convolve_rows(u, kernel_u, self.layout, None)?,
        })
    }
}
