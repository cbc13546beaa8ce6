//! The fused CPU scan: per sequence (in parallel), one pass along L with
//! the F complex states in registers' reach; in f64 for f64 inputs, else in
//! f32 ([`crate::ops::support::precision`]). The backward is the
//! composite around this scan.

use burn::tensor::{TensorData, TensorMetadata};
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;

use super::DiagonalScanOps;
use crate::ops::support::flex_values::{HostReal, values};
use crate::ops::support::precision::{Precision, narrow};

impl DiagonalScanOps for Flex {
    fn diagonal_scan(
        lambda: FlexTensor,
        u: FlexTensor,
        x0: FlexTensor,
        reverse: bool,
    ) -> FlexTensor {
        let dtype = u.dtype();
        let precision = Precision::of(&[dtype]);
        let [lambda, u, x0] = [lambda, u, x0].map(|t| precision.widen(t));
        let x = match precision {
            Precision::F32 => scan::<f32>(&lambda, &u, &x0, reverse),
            Precision::F64 => scan::<f64>(&lambda, &u, &x0, reverse),
        };
        narrow(x, dtype)
    }
}

fn scan<T: HostReal>(
    lambda: &FlexTensor,
    u: &FlexTensor,
    x0: &FlexTensor,
    reverse: bool,
) -> FlexTensor {
    let shape = u.shape();
    let (len, width) = (shape[1], shape[2]);
    let f = width / 2;
    let (lambda, u, x0) = (values::<T>(lambda), values::<T>(u), values::<T>(x0));
    let (lr, li) = lambda.split_at(f);
    let mut x = vec![T::zero(); u.len()];
    if width > 0 && len > 0 {
        x.par_chunks_mut(len * width)
            .zip(u.par_chunks(len * width))
            .zip(x0.par_chunks(width))
            .for_each(|((x, u), start)| {
                let (mut sr, mut si) = (start[..f].to_vec(), start[f..].to_vec());
                for k in 0..len {
                    let t = if reverse { len - 1 - k } else { k };
                    let row = t * width;
                    let (ur, ui) = u[row..row + width].split_at(f);
                    let (xr, xi) = x[row..row + width].split_at_mut(f);
                    for n in 0..f {
                        let re = lr[n] * sr[n] - li[n] * si[n] + ur[n];
                        let im = lr[n] * si[n] + li[n] * sr[n] + ui[n];
                        (sr[n], si[n], xr[n], xi[n]) = (re, im, re, im);
                    }
                }
            });
    }
    FlexTensor::from_data(TensorData::new(x, shape.to_vec()))
}
