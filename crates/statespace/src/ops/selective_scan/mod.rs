//! The selective scan of Mamba (S6): a diagonal SSM whose step size and
//! input/output vectors depend on the input, computed as a recurrence.
//!
//! For each batch row b, channel d and time t (groups g = d·G/D share B, C):
//!
//!   Δ_t = softplus(δ_t + δ_bias)            (or δ_t + δ_bias without softplus)
//!   x_t = exp(Δ_t A) ⊙ x_{t−1} + Δ_t B_t u_t  (x ∈ ℝᴺ, x_{−1} = initial state or 0)
//!   y_t = C_t · x_t + D u_t
//!   out_t = y_t · silu(z_t)                  (when z is given)
//!
//! as mamba_ssm's `selective_scan_ref`. The backward pass is hand-written
//! and recomputes the states chunk by chunk from checkpoints taken every
//! [`CHUNK`] steps, so neither pass stores per-step states: memory is
//! O(batch·dim·(L + N)) plus O(batch·dim·N·L/CHUNK) of checkpoints.
//!
//! Packed variable-length batches: [`SequenceStarts`] marks positions where
//! a new sequence begins; the state is reset to zero there.

mod autodiff;
mod cpu;
#[cfg(feature = "cuda")]
mod cube;
#[cfg(feature = "cuda")]
mod kernels;
// Used by the CUDA launcher only; compiled and tested on every build.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
mod plan;

use std::sync::Arc;

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Tensor, TensorPrimitive};

use crate::error::{Error, Result};
use crate::ops::support::check::{self, arg};

/// Steps between the state checkpoints the backward pass recomputes from.
pub const CHUNK: usize = 64;

/// Where packed sequences begin, per batch row: `resets[b][t]` is true when
/// a new sequence starts at position t > 0 (the state is zeroed first).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SequenceStarts {
    resets: Vec<Vec<bool>>,
}

impl SequenceStarts {
    /// From cumulative sequence lengths of one packed row, as in
    /// flash-attention / mamba_ssm (`[0, l₁, l₁+l₂, …, L]`).
    pub fn from_cu_seqlens(cu_seqlens: &[usize], len: usize) -> Result<Self> {
        let ok = cu_seqlens.first() == Some(&0)
            && cu_seqlens.last() == Some(&len)
            && cu_seqlens.windows(2).all(|w| w[0] < w[1]);
        if !ok {
            return Err(Error::config(
                "cu_seqlens",
                format!("must rise strictly from 0 to the packed length {len}, got {cu_seqlens:?}"),
            ));
        }
        let mut resets = vec![false; len];
        for &start in &cu_seqlens[1..cu_seqlens.len() - 1] {
            resets[start] = true;
        }
        Ok(Self {
            resets: vec![resets],
        })
    }

    /// From a sequence index per position, (batch, L): a new sequence starts
    /// wherever the index changes.
    pub fn from_seq_idx(seq_idx: &[Vec<i64>]) -> Self {
        let resets = seq_idx
            .iter()
            .map(|row| {
                (0..row.len())
                    .map(|t| t > 0 && row[t] != row[t - 1])
                    .collect()
            })
            .collect();
        Self { resets }
    }

    /// Whether row `b` starts a new sequence at `t`.
    pub fn resets_at(&self, b: usize, t: usize) -> bool {
        self.resets[b][t]
    }

    /// (batch rows, L).
    pub(crate) fn dims(&self) -> (usize, usize) {
        (self.resets.len(), self.resets.first().map_or(0, Vec::len))
    }
}

/// Non-tensor arguments of a scan.
#[derive(Debug, Clone)]
pub struct ScanArgs {
    /// Whether D, z, δ_bias and an initial state are present (absent ones are
    /// passed as placeholder tensors).
    pub has_d: bool,
    /// z gate present.
    pub has_z: bool,
    /// δ_bias present.
    pub has_delta_bias: bool,
    /// Initial state present.
    pub has_initial_state: bool,
    /// Apply softplus to δ + δ_bias.
    pub delta_softplus: bool,
    /// Packed-sequence boundaries.
    pub starts: Option<Arc<SequenceStarts>>,
}

/// The tensors of a scan, as backend primitives, in a fixed order.
#[derive(Debug, Clone)]
pub struct ScanTensors<T> {
    /// u (batch, D, L).
    pub u: T,
    /// δ (batch, D, L).
    pub delta: T,
    /// A (D, N).
    pub a: T,
    /// B (batch, G, N, L).
    pub b: T,
    /// C (batch, G, N, L).
    pub c: T,
    /// D (D) or a placeholder.
    pub d: T,
    /// z (batch, D, L) or a placeholder.
    pub z: T,
    /// δ_bias (D) or a placeholder.
    pub delta_bias: T,
    /// Initial state (batch, D, N) or a placeholder.
    pub initial_state: T,
}

impl<T> ScanTensors<T> {
    /// The nine tensors, each through `f`, in declaration order.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> ScanTensors<U> {
        ScanTensors {
            u: f(self.u),
            delta: f(self.delta),
            a: f(self.a),
            b: f(self.b),
            c: f(self.c),
            d: f(self.d),
            z: f(self.z),
            delta_bias: f(self.delta_bias),
            initial_state: f(self.initial_state),
        }
    }

    /// Each tensor paired with the same field of `other`.
    pub fn zip<U>(self, other: ScanTensors<U>) -> ScanTensors<(T, U)> {
        ScanTensors {
            u: (self.u, other.u),
            delta: (self.delta, other.delta),
            a: (self.a, other.a),
            b: (self.b, other.b),
            c: (self.c, other.c),
            d: (self.d, other.d),
            z: (self.z, other.z),
            delta_bias: (self.delta_bias, other.delta_bias),
            initial_state: (self.initial_state, other.initial_state),
        }
    }
}

/// Gradients of a scan with respect to each tensor (placeholders get zeros).
pub type ScanGrads<T> = ScanTensors<T>;

/// Backends that run the selective scan.
pub trait SelectiveScanOps: crate::ops::MatmulOps {
    /// Forward: (out (batch, D, L), last state (batch, D, N)).
    fn selective_scan_forward(
        inputs: ScanTensors<FloatTensor<Self>>,
        args: &ScanArgs,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Backward from the gradients of `out` and of the last state.
    fn selective_scan_backward(
        inputs: ScanTensors<FloatTensor<Self>>,
        grad_out: FloatTensor<Self>,
        grad_last_state: FloatTensor<Self>,
        args: &ScanArgs,
    ) -> ScanGrads<FloatTensor<Self>>;

    /// Forward for training: as [`Self::selective_scan_forward`], plus what
    /// the backward pass may reuse instead of recomputing (`None` unless
    /// the backend saves something: CubeCL devices keep the chunk-start
    /// states, a few MB per layer).
    fn selective_scan_forward_saving(
        inputs: ScanTensors<FloatTensor<Self>>,
        args: &ScanArgs,
    ) -> (
        FloatTensor<Self>,
        FloatTensor<Self>,
        Option<FloatTensor<Self>>,
    ) {
        let (out, last) = Self::selective_scan_forward(inputs, args);
        (out, last, None)
    }

    /// [`Self::selective_scan_backward`] given what
    /// [`Self::selective_scan_forward_saving`] saved for these inputs.
    fn selective_scan_backward_saved(
        inputs: ScanTensors<FloatTensor<Self>>,
        saved: Option<FloatTensor<Self>>,
        grad_out: FloatTensor<Self>,
        grad_last_state: FloatTensor<Self>,
        args: &ScanArgs,
    ) -> ScanGrads<FloatTensor<Self>> {
        let _ = saved;
        Self::selective_scan_backward(inputs, grad_out, grad_last_state, args)
    }
}

/// The inputs of [`selective_scan`]; shapes as in mamba_ssm.
#[derive(Debug, Clone)]
pub struct SelectiveScan<B: Backend> {
    /// u, (batch, D, L).
    pub u: Tensor<B, 3>,
    /// δ, (batch, D, L).
    pub delta: Tensor<B, 3>,
    /// A, (D, N), real (typically −exp(A_log)).
    pub a: Tensor<B, 2>,
    /// B, (batch, G, N, L); G = 1 for ungrouped (batch, N, L) inputs.
    pub b: Tensor<B, 4>,
    /// C, (batch, G, N, L).
    pub c: Tensor<B, 4>,
    /// D, (D).
    pub d: Option<Tensor<B, 1>>,
    /// z, (batch, D, L): gates the output by silu(z).
    pub z: Option<Tensor<B, 3>>,
    /// δ_bias, (D).
    pub delta_bias: Option<Tensor<B, 1>>,
    /// Apply softplus to δ + δ_bias.
    pub delta_softplus: bool,
    /// State before the first step, (batch, D, N).
    pub initial_state: Option<Tensor<B, 3>>,
    /// Packed-sequence boundaries.
    pub starts: Option<SequenceStarts>,
}

impl<B: Backend> SelectiveScan<B> {
    /// A scan of u and δ with A, B, C and no optional inputs.
    pub fn new(
        u: Tensor<B, 3>,
        delta: Tensor<B, 3>,
        a: Tensor<B, 2>,
        b: Tensor<B, 4>,
        c: Tensor<B, 4>,
    ) -> Self {
        Self {
            u,
            delta,
            a,
            b,
            c,
            d: None,
            z: None,
            delta_bias: None,
            delta_softplus: false,
            initial_state: None,
            starts: None,
        }
    }

    /// Fails, naming the argument, unless the shapes are as the fields
    /// state, the groups divide D, the activations (u, δ, B, C, z) are of
    /// one float dtype and the parameters (A, D, δ_bias, initial state) of
    /// one float dtype (the two may differ, as in mamba_ssm), and every
    /// tensor is on one device.
    fn validate(&self) -> Result<()> {
        const OP: &str = "selective_scan";
        let [batch, dim, len] = self.u.dims();
        check::shape(
            OP,
            "delta (batch, D, L)",
            &[batch, dim, len],
            &self.delta.dims(),
        )?;
        let [a_dim, n] = self.a.dims();
        check::shape(OP, "A (D, N)", &[dim, n], &[a_dim, n])?;
        let groups = self.b.dims()[1];
        if groups == 0 || dim % groups != 0 {
            return Err(Error::config(
                "selective_scan: B",
                format!("groups ({groups}) must divide dim ({dim})"),
            ));
        }
        let bc = [batch, groups, n, len];
        check::shape(OP, "B (batch, G, N, L)", &bc, &self.b.dims())?;
        check::shape(OP, "C (batch, G, N, L)", &bc, &self.c.dims())?;
        let mut activations = vec![
            arg("u", &self.u),
            arg("delta", &self.delta),
            arg("B", &self.b),
            arg("C", &self.c),
        ];
        let mut params = vec![arg("A", &self.a)];
        if let Some(d) = &self.d {
            check::shape(OP, "D (D)", &[dim], &d.dims())?;
            params.push(arg("D", d));
        }
        if let Some(z) = &self.z {
            check::shape(OP, "z (batch, D, L)", &[batch, dim, len], &z.dims())?;
            activations.push(arg("z", z));
        }
        if let Some(bias) = &self.delta_bias {
            check::shape(OP, "delta_bias (D)", &[dim], &bias.dims())?;
            params.push(arg("delta_bias", bias));
        }
        if let Some(s) = &self.initial_state {
            check::shape(
                OP,
                "initial_state (batch, D, N)",
                &[batch, dim, n],
                &s.dims(),
            )?;
            params.push(arg("initial_state", s));
        }
        if let Some(starts) = &self.starts {
            let (rows, cols) = starts.dims();
            check::shape(
                OP,
                "sequence starts (batch, L)",
                &[batch, len],
                &[rows, cols],
            )?;
        }
        check::floats_on_one_device(OP, &activations)?;
        check::floats_on_one_device(OP, &params)?;
        check::same_device(OP, &[("u", self.u.device()), ("A", self.a.device())])
    }
}

/// Runs the selective scan: returns (out (batch, D, L) in the activations'
/// dtype, last state (batch, D, N) in the parameters'). Differentiable in
/// every tensor input. Fails, naming the argument, on inputs
/// [`SelectiveScan`]'s shapes, dtypes and devices do not allow (see its
/// fields; activations and parameters each of one float dtype, one device).
pub fn selective_scan<B: SelectiveScanOps>(
    scan: SelectiveScan<B>,
) -> Result<(Tensor<B, 3>, Tensor<B, 3>)> {
    scan.validate()?;
    let device = scan.u.device();
    let placeholder = || {
        Tensor::<B, 1>::zeros([1], &device)
            .into_primitive()
            .tensor()
    };
    let prim = |t: Tensor<B, 3>| t.into_primitive().tensor();
    let args = ScanArgs {
        has_d: scan.d.is_some(),
        has_z: scan.z.is_some(),
        has_delta_bias: scan.delta_bias.is_some(),
        has_initial_state: scan.initial_state.is_some(),
        delta_softplus: scan.delta_softplus,
        starts: scan.starts.map(Arc::new),
    };
    let inputs = ScanTensors {
        u: prim(scan.u),
        delta: prim(scan.delta),
        a: scan.a.into_primitive().tensor(),
        b: scan.b.into_primitive().tensor(),
        c: scan.c.into_primitive().tensor(),
        d: scan
            .d
            .map_or_else(placeholder, |t| t.into_primitive().tensor()),
        z: scan.z.map_or_else(placeholder, prim),
        delta_bias: scan
            .delta_bias
            .map_or_else(placeholder, |t| t.into_primitive().tensor()),
        initial_state: scan.initial_state.map_or_else(placeholder, prim),
    };
    let (out, last) = B::selective_scan_forward(inputs, &args);
    Ok((
        Tensor::from_primitive(TensorPrimitive::Float(out)),
        Tensor::from_primitive(TensorPrimitive::Float(last)),
    ))
}
