//! The convolution every SpaceTime SSM ends in: kernel rows spread over the
//! channels, a causal convolution and an optional skip.

use burn::tensor::{Int, Tensor, TensorData};

use super::config::ChannelLayout;
use crate::error::{Error, Result};
use crate::ops::{SsmBackend, causal_conv};

/// y[b, t, d] = Σ_{j ≤ t} K[row(d), j]·u[b, t − j, d] (+ skip[d]·u[b, t, d])
/// for u (B, L, D) and kernel rows (R, Lk) (taps past L unused; fewer than
/// L taps are zeros), row(d) from `layout`.
pub fn convolve_rows<B: SsmBackend>(
    u: Tensor<B, 3>,
    rows: Tensor<B, 2>,
    layout: ChannelLayout,
    skip: Option<Tensor<B, 1>>,
) -> Result<Tensor<B, 3>> {
    let [batch, len, channels] = u.dims();
    if channels != layout.channels || len == 0 {
        return Err(Error::shape(
            "input (batch, length ≥ 1, model_dim)",
            &[batch, len.max(1), layout.channels],
            &[batch, len, channels],
        ));
    }
    let [count, _] = rows.dims();
    let index = Tensor::<B, 1, Int>::from_data(
        TensorData::new(layout.rows_of_channels(count), [channels]),
        &rows.device(),
    );
    let kernels = rows.select(0, index).unsqueeze_dim::<3>(0);
    let skip = match skip {
        Some(s) => s.unsqueeze_dim::<2>(0),
        None => Tensor::zeros([1, channels], (&u.device(), u.dtype())),
    };
    causal_conv(u, kernels, skip)
}
