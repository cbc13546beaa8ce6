//! Backward passes of the real FFTs (see the module docs for conventions).
//!
//! rfft: ∂L/∂x_j = Re Σ_k G_k e^{2πijk/n} = n · irfft(G with interior bins
//! halved)_j, then cut or zero-padded to the input length.
//! irfft: ∂L/∂X_k = (c_k/n) · rfft(g)_k with c_k = 2 for interior bins and 1
//! for DC and Nyquist, then cut or zero-padded to the input bin count.

use burn::tensor::backend::Backend;
use burn::tensor::ops::FloatTensor;
use burn::tensor::{Slice, TensorMetadata};
use burn_autodiff::{
    Autodiff,
    checkpoint::{base::Checkpointer, strategy::CheckpointStrategy},
    grads::Gradients,
    ops::{Backward, Ops, OpsKind},
};

use super::SpectralOps;

impl<B: Backend + SpectralOps, C: CheckpointStrategy> SpectralOps for Autodiff<B, C> {
    fn spectral_rfft(
        signal: FloatTensor<Self>,
        n: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        // The two outputs are tracked as one node: re and im concatenated
        // along the last dimension, split again after.
        #[derive(Debug)]
        struct Rfft;

        impl<B: Backend + SpectralOps> Backward<B, 1> for Rfft {
            type State = (usize, usize); // (n, input length)

            fn backward(
                self,
                ops: Ops<Self::State, 1>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let (n, input_len) = ops.state;
                let [parent] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let Some(parent) = parent else { return };
                let bins = n / 2 + 1;
                let g_re = narrow_last::<B>(grad.clone(), 0, bins);
                let g_im = narrow_last::<B>(grad, bins, bins);
                let g_re = scale_interior::<B>(g_re, n, 0.5);
                let g_im = scale_interior::<B>(g_im, n, 0.5);
                let x = B::spectral_irfft(g_re, g_im, n);
                let x = B::float_mul_scalar(x, (n as f64).into());
                grads.register::<B>(parent.id, fit_last::<B>(x, input_len));
            }
        }

        let input_len = *signal
            .primitive
            .shape()
            .as_slice()
            .last()
            .expect("rfft input has a dimension");
        let guard = signal.node.clone();
        let (re, im) = B::spectral_rfft(signal.primitive, n);
        let last = re.shape().num_dims() - 1;
        let both = B::float_cat(vec![re, im], last);
        let both = match Rfft.prepare::<C>([guard]).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((n, input_len), both),
            OpsKind::UnTracked(prep) => prep.finish(both),
        };
        let bins = n / 2 + 1;
        (
            narrow_last::<Self>(both.clone(), 0, bins),
            narrow_last::<Self>(both, bins, bins),
        )
    }

    fn spectral_irfft(re: FloatTensor<Self>, im: FloatTensor<Self>, n: usize) -> FloatTensor<Self> {
        #[derive(Debug)]
        struct Irfft;

        impl<B: Backend + SpectralOps> Backward<B, 2> for Irfft {
            type State = (usize, usize); // (n, input bin count)

            fn backward(
                self,
                ops: Ops<Self::State, 2>,
                grads: &mut Gradients,
                _: &mut Checkpointer,
            ) {
                let (n, input_bins) = ops.state;
                let [node_re, node_im] = ops.parents;
                let grad = grads.consume::<B>(&ops.node);
                let grad = B::float_div_scalar(grad, (n as f64).into());
                let (g_re, g_im) = B::spectral_rfft(grad, n);
                let g_re = fit_last::<B>(scale_interior::<B>(g_re, n, 2.0), input_bins);
                let g_im = fit_last::<B>(scale_interior::<B>(g_im, n, 2.0), input_bins);
                if let Some(node) = node_re {
                    grads.register::<B>(node.id, g_re);
                }
                if let Some(node) = node_im {
                    grads.register::<B>(node.id, g_im);
                }
            }
        }

        let input_bins = *re
            .primitive
            .shape()
            .as_slice()
            .last()
            .expect("irfft input has a dimension");
        let guards = [re.node.clone(), im.node.clone()];
        let out = B::spectral_irfft(re.primitive, im.primitive, n);
        match Irfft.prepare::<C>(guards).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish((n, input_bins), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}

/// `len` entries of the last dimension from `start`.
fn narrow_last<B: Backend>(t: FloatTensor<B>, start: usize, len: usize) -> FloatTensor<B> {
    let dims = t.shape().as_slice().to_vec();
    let ranges: Vec<Slice> = dims
        .iter()
        .enumerate()
        .map(|(i, &d)| {
            if i + 1 == dims.len() {
                Slice::from(start..start + len)
            } else {
                Slice::from(0..d)
            }
        })
        .collect();
    B::float_slice(t, &ranges)
}

/// Cuts or zero-pads the last dimension to `target`.
fn fit_last<B: Backend>(t: FloatTensor<B>, target: usize) -> FloatTensor<B> {
    let dims = t.shape().as_slice().to_vec();
    let current = *dims.last().unwrap();
    if current == target {
        return t;
    }
    if current > target {
        return narrow_last::<B>(t, 0, target);
    }
    let mut padded_dims = dims.clone();
    *padded_dims.last_mut().unwrap() = target - current;
    let zeros = B::float_zeros(padded_dims.into(), &B::float_device(&t), t.dtype().into());
    B::float_cat(vec![t, zeros], dims.len() - 1)
}

/// Multiplies the interior bins (all but DC and, for even n, Nyquist) by `factor`.
fn scale_interior<B: Backend>(bins: FloatTensor<B>, n: usize, factor: f64) -> FloatTensor<B> {
    let count = *bins.shape().as_slice().last().unwrap();
    let end = if n.is_multiple_of(2) {
        count - 1
    } else {
        count
    };
    if end <= 1 {
        return bins;
    }
    let dc = narrow_last::<B>(bins.clone(), 0, 1);
    let interior = B::float_mul_scalar(narrow_last::<B>(bins.clone(), 1, end - 1), factor.into());
    let mut parts = vec![dc, interior];
    if end < count {
        parts.push(narrow_last::<B>(bins, end, count - end));
    }
    let last = parts[0].shape().num_dims() - 1;
    B::float_cat(parts, last)
}
