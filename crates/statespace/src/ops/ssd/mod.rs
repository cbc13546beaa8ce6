//! State space duality (SSD): Mamba-2's scan with a scalar decay per head,
//!
//!   h_t = exp(a_t) h_{t−1} + x_t ⊗ B_t,   y_t = h_t · C_t
//!
//! with x (batch, L, H, P), a (batch, L, H) already discretised (Δ·A ≤ 0),
//! B, C (batch, L, G, N) shared by H/G heads each, h (batch, H, P, N).
//!
//! Two algorithms compute it, with equal results (tested against
//! mamba_ssm's golden cases and each other):
//! - [`ssd_chunked`], mamba_ssm's chunked algorithm as differentiable tensor
//!   ops: matmul-shaped work for wide parallel devices;
//! - the backend op [`SsdOps`] behind [`ssd`]: on the CPU a recurrence per
//!   (batch, head), vectorised along the state (fewer operations than the
//!   chunked form: 2·P·N multiply-adds per step instead of about
//!   Q·(N + P) for chunk length Q), with a hand-written backward that
//!   recomputes states from checkpoints every [`CHUNK`] steps; on CubeCL
//!   devices fused kernels of the chunked algorithm, forward and backward
//!   (packed sequences there run the composite).
//!
//! Packed sequences: at a position that starts a new sequence the carried
//! state is zeroed (the decay there is exactly 0).

mod autodiff;
mod chunked;
mod cpu;
#[cfg(feature = "cuda")]
mod cube;
#[cfg(feature = "cuda")]
mod kernels;
// Used by the CUDA launchers only; compiled and tested on every build.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
mod plan;

use std::sync::Arc;

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Tensor, TensorPrimitive};

use super::SequenceStarts;
use super::matmul::MatmulOps;
use crate::error::{Error, Result};
use crate::ops::support::check::{self, arg};
pub use chunked::ssd_chunked;

/// Steps between the state checkpoints the CPU backward recomputes from.
pub const CHUNK: usize = 16;

/// The inputs of [`ssd`] and [`ssd_chunked`].
#[derive(Debug, Clone)]
pub struct Ssd<B: Backend> {
    /// x, (batch, L, H, P).
    pub x: Tensor<B, 4>,
    /// a = Δ·A, (batch, L, H).
    pub a: Tensor<B, 3>,
    /// B, (batch, L, G, N).
    pub b: Tensor<B, 4>,
    /// C, (batch, L, G, N).
    pub c: Tensor<B, 4>,
    /// Chunk length of the chunked algorithm (any ≥ 1; the result does not
    /// depend on it).
    pub chunk_size: usize,
    /// State before the first step, (batch, H, P, N).
    pub initial_state: Option<Tensor<B, 4>>,
    /// Packed-sequence boundaries.
    pub starts: Option<SequenceStarts>,
}

impl<B: Backend> Ssd<B> {
    /// Fails, naming the argument, unless the shapes are as the fields
    /// state with no empty axis (G dividing H), the chunk size is at least
    /// 1, and every tensor is of one float dtype on one device.
    fn validate(&self) -> Result<()> {
        const OP: &str = "ssd";
        let [batch, len, heads, p] = self.x.dims();
        let [_, _, groups, n] = self.b.dims();
        for axis in 0..4 {
            check::min_axis(OP, "x (batch, L, H, P), each ≥ 1", &self.x.dims(), axis, 1)?;
        }
        check::min_axis(OP, "B (batch, L, G, N ≥ 1)", &self.b.dims(), 3, 1)?;
        check::shape(OP, "a (batch, L, H)", &[batch, len, heads], &self.a.dims())?;
        let bc = [batch, len, groups, n];
        if groups == 0 || heads % groups != 0 {
            return Err(Error::config(
                "ssd: B",
                format!("groups ({groups}) must divide heads ({heads})"),
            ));
        }
        check::shape(OP, "B (batch, L, G, N)", &bc, &self.b.dims())?;
        check::shape(OP, "C (batch, L, G, N)", &bc, &self.c.dims())?;
        let mut args = vec![
            arg("x", &self.x),
            arg("a", &self.a),
            arg("B", &self.b),
            arg("C", &self.c),
        ];
        if let Some(h0) = &self.initial_state {
            check::shape(
                OP,
                "initial_state (batch, H, P, N)",
                &[batch, heads, p, n],
                &h0.dims(),
            )?;
            args.push(arg("initial_state", h0));
        }
        if self.chunk_size == 0 {
            return Err(Error::config("ssd: chunk_size", "must be at least 1"));
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
        check::floats_on_one_device(OP, &args)
    }
}

/// What decides whether a backend's kernels take an SSD problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SsdProblem {
    /// (batch, L, heads H, head size P, groups G, state size N).
    pub dims: [usize; 6],
    /// Storage types of x, a, B, C and, when given, the initial state.
    pub dtypes: Vec<DType>,
    /// Whether packed-sequence boundaries are given.
    pub packed: bool,
}

impl<B: Backend> Ssd<B> {
    /// The sizes, storage types and packing of these inputs.
    pub fn problem(&self) -> SsdProblem {
        let [batch, len, heads, p] = self.x.dims();
        let [_, _, groups, n] = self.b.dims();
        let mut dtypes = vec![
            self.x.dtype(),
            self.a.dtype(),
            self.b.dtype(),
            self.c.dtype(),
        ];
        dtypes.extend(self.initial_state.as_ref().map(|h| h.dtype()));
        SsdProblem {
            dims: [batch, len, heads, p, groups, n],
            dtypes,
            packed: self.starts.is_some(),
        }
    }
}

/// Non-tensor arguments of the SSD op.
#[derive(Debug, Clone)]
pub struct SsdArgs {
    /// Whether an initial state is present (else a placeholder is passed).
    pub has_initial_state: bool,
    /// Chunk length, for implementations that chunk.
    pub chunk_size: usize,
    /// Packed-sequence boundaries.
    pub starts: Option<Arc<SequenceStarts>>,
}

/// The tensors of the SSD op, as backend primitives, in a fixed order.
#[derive(Debug, Clone)]
pub struct SsdTensors<T> {
    /// x (batch, L, H, P).
    pub x: T,
    /// a (batch, L, H).
    pub a: T,
    /// B (batch, L, G, N).
    pub b: T,
    /// C (batch, L, G, N).
    pub c: T,
    /// Initial state (batch, H, P, N) or a placeholder.
    pub initial_state: T,
}

impl<T> SsdTensors<T> {
    /// The five tensors, each through `f`, in declaration order.
    pub fn map<U>(self, mut f: impl FnMut(T) -> U) -> SsdTensors<U> {
        SsdTensors {
            x: f(self.x),
            a: f(self.a),
            b: f(self.b),
            c: f(self.c),
            initial_state: f(self.initial_state),
        }
    }

    /// Each tensor paired with the same field of `other`.
    pub fn zip<U>(self, other: SsdTensors<U>) -> SsdTensors<(T, U)> {
        SsdTensors {
            x: (self.x, other.x),
            a: (self.a, other.a),
            b: (self.b, other.b),
            c: (self.c, other.c),
            initial_state: (self.initial_state, other.initial_state),
        }
    }
}

/// Backends that run SSD.
pub trait SsdOps: MatmulOps {
    /// Forward: (y (batch, L, H, P), final state (batch, H, P, N)).
    fn ssd_forward(
        inputs: SsdTensors<FloatTensor<Self>>,
        args: &SsdArgs,
    ) -> (FloatTensor<Self>, FloatTensor<Self>);

    /// Backward from the gradients of y and of the final state; the
    /// placeholder initial state gets a gradient of its own shape.
    fn ssd_backward(
        inputs: SsdTensors<FloatTensor<Self>>,
        grad_y: FloatTensor<Self>,
        grad_final: FloatTensor<Self>,
        args: &SsdArgs,
    ) -> SsdTensors<FloatTensor<Self>>;

    /// Whether [`ssd`] runs the differentiable chunked composite
    /// ([`ssd_chunked`]) instead of this op for `problem`: true where the
    /// backend's kernels do not take it and the composite keeps training on
    /// the device.
    fn ssd_prefers_chunked(_problem: &SsdProblem) -> bool {
        false
    }
}

/// Runs SSD through the backend op: returns y (batch, L, H, P) and the final
/// state (batch, H, P, N). Differentiable in every tensor input. Fails,
/// naming the argument, on inputs [`Ssd`]'s shapes do not allow, of mixed
/// or non-float dtypes, or on different devices.
pub fn ssd<B: SsdOps>(s: Ssd<B>) -> Result<(Tensor<B, 4>, Tensor<B, 4>)> {
    s.validate()?;
    if B::ssd_prefers_chunked(&s.problem()) {
        return ssd_chunked(s);
    }
    let args = SsdArgs {
        has_initial_state: s.initial_state.is_some(),
        chunk_size: s.chunk_size,
        starts: s.starts.map(Arc::new),
    };
    let device = s.x.device();
    let inputs = SsdTensors {
        x: s.x.into_primitive().tensor(),
        a: s.a.into_primitive().tensor(),
        b: s.b.into_primitive().tensor(),
        c: s.c.into_primitive().tensor(),
        initial_state: s.initial_state.map_or_else(
            || {
                Tensor::<B, 1>::zeros([1], &device)
                    .into_primitive()
                    .tensor()
            },
            |t| t.into_primitive().tensor(),
        ),
    };
    let (y, last) = B::ssd_forward(inputs, &args);
    Ok((
        Tensor::from_primitive(TensorPrimitive::Float(y)),
        Tensor::from_primitive(TensorPrimitive::Float(last)),
    ))
}
