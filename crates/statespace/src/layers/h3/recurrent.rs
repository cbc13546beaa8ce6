//! H3 one token at a time: the shift SSM as a shift register of N k-values
//! weighted by B, the diagonal SSM as N/2 complex modes per (head, i, j)
//! channel of the outer products.

use burn::tensor::Tensor;
use burn::tensor::backend::Backend;

use super::H3;
use crate::complex::ComplexTensor;
use crate::discretize::Discretization;
use crate::error::{Error, Result};
use crate::ops::SsmBackend;

/// The state of an H3 layer after some tokens: the shift register
/// (B, d, N) and the diagonal SSM's modes (B, H·p², N/2), complex.
#[derive(Debug, Clone)]
pub struct H3State<B: Backend> {
    pub shift: Tensor<B, 3>,
    pub ssm: ComplexTensor<B, 3>,
}

impl<B: SsmBackend> H3<B> {
    /// The zero state for `batch` sequences.
    pub fn initial_state(&self, batch: usize) -> H3State<B> {
        let reference = self.D.val();
        let options = (&reference.device(), reference.dtype());
        let half = self.d_state() / 2;
        let channels = self.heads() * self.head_dim * self.head_dim;
        let zeros = || Tensor::zeros([batch, channels, half], options);
        H3State {
            shift: Tensor::zeros([batch, self.d_model(), self.d_state()], options),
            ssm: ComplexTensor::new(zeros(), zeros()),
        }
    }

    /// Āᵈ and B̄ of the diagonal SSM per channel (h, i, j): (H·p², N/2).
    fn discrete_modes(&self) -> (ComplexTensor<B, 2>, ComplexTensor<B, 2>) {
        let (dt, a, b, _) = self.diag_system();
        let z = a.mul_real(&dt.clone().unsqueeze_dim(1));
        let (da, db) = match self.disc {
            Discretization::Bilinear => {
                let denom = z.mul_scalar(-0.5).add_scalar(1.0).recip();
                (
                    z.mul_scalar(0.5).add_scalar(1.0).mul(&denom),
                    b.mul_real(&dt.unsqueeze_dim(1)).mul(&denom),
                )
            }
            Discretization::Zoh => {
                let ez = z.exp();
                (ez.clone(), b.mul(&ez.add_scalar(-1.0)).div(&a))
            }
        };
        let p2 = self.head_dim * self.head_dim;
        let widen = |t: ComplexTensor<B, 2>| {
            t.map(|x| {
                let [h, n] = x.dims();
                x.reshape([h, 1, n]).repeat_dim(1, p2).reshape([h * p2, n])
            })
        };
        (widen(da), widen(db))
    }

    /// One token u (B, d) after `state` → (output (B, d), next state).
    /// Fails on an input or state of another shape.
    pub fn step(&self, state: &H3State<B>, u: Tensor<B, 2>) -> Result<(Tensor<B, 2>, H3State<B>)> {
        let [batch, width] = u.dims();
        let (d, n) = (self.d_model(), self.d_state());
        if width != d {
            return Err(Error::shape(
                "input (batch, d_model)",
                &[batch, d],
                &[batch, width],
            ));
        }
        if state.shift.dims() != [batch, d, n] {
            return Err(Error::shape(
                "H3 shift state",
                &[batch, d, n],
                &state.shift.dims(),
            ));
        }
        let (heads, p) = (self.heads(), self.head_dim);
        let channels = heads * p * p;
        if state.ssm.dims() != [batch, channels, n / 2] {
            return Err(Error::shape(
                "H3 ssm state",
                &[batch, channels, n / 2],
                &state.ssm.dims(),
            ));
        }
        let q = self.q_proj.forward(u.clone())?;
        let k = self.k_proj.forward(u.clone())?;
        let v = self.v_proj.forward(u)?;
        // Shift register: s' = [0, s[.., :N − 1]] + B·k.
        let shifted = Tensor::cat(
            vec![
                state.shift.clone().narrow(2, 0, 1).zeros_like(),
                state.shift.clone().narrow(2, 0, n - 1),
            ],
            2,
        );
        let kernel = &self.ssm_k_kernel.kernel;
        let shift = shifted + kernel.B.val().unsqueeze_dim::<3>(0) * k.clone().unsqueeze_dim(2);
        let k = (shift.clone() * kernel.C.val())
            .sum_dim(2)
            .squeeze_dim::<2>(2)
            + k * self.ssm_k_D.val().unsqueeze_dim(0);
        let kv = (k.reshape([batch, heads, p, 1]) * v.reshape([batch, heads, 1, p]))
            .reshape([batch, channels]);
        let (da, db) = self.discrete_modes();
        let (_, _, _, c) = self.diag_system();
        let p2 = p * p;
        let c = c.map(|x| {
            let [_, h, m] = x.dims();
            x.reshape([h, 1, m])
                .repeat_dim(1, p2)
                .reshape([1, h * p2, m])
        });
        let input = db
            .map(|x| x.unsqueeze_dim::<3>(0))
            .mul_real(&kv.clone().unsqueeze_dim(2));
        let ssm = state
            .ssm
            .mul(&da.map(|x| x.unsqueeze_dim::<3>(0)))
            .add(&input);
        let skip = self
            .D
            .val()
            .reshape([heads, 1])
            .repeat_dim(1, p2)
            .reshape([1, channels]);
        let y = ssm.mul(&c).re.sum_dim(2).squeeze_dim::<2>(2) * 2.0 + kv * skip;
        let o = (q.reshape([batch, heads, p, 1]) * y.reshape([batch, heads, p, p])).sum_dim(2);
        let o = o
            .reshape([batch, heads, p])
            .swap_dims(1, 2)
            .reshape([batch, d]);
        Ok((self.output_linear.forward(o)?, H3State { shift, ssm }))
    }

    /// x (B, L, d) after `state` → (outputs (B, L, d), state after the last
    /// token), token by token.
    pub fn forward_with_state(
        &self,
        x: Tensor<B, 3>,
        state: H3State<B>,
    ) -> Result<(Tensor<B, 3>, H3State<B>)> {
        let [batch, len, d] = x.dims();
        let mut state = state;
        let mut outputs = Vec::with_capacity(len);
        for t in 0..len {
            let (y, next) = self.step(&state, x.clone().narrow(1, t, 1).reshape([batch, d]))?;
            outputs.push(y.unsqueeze_dim(1));
            state = next;
        }
        if outputs.is_empty() {
            return Err(Error::shape(
                "input (batch, length ≥ 1, d_model)",
                &[batch, 1, d],
                &[batch, len, d],
            ));
        }
        Ok((Tensor::cat(outputs, 1), state))
    }
}
