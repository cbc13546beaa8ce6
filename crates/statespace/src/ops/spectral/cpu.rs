//! CPU transforms with `realfft`, parallel over rows with rayon; in f64
//! for f64 input, else in f32 ([`crate::ops::support::precision`]).

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;

use burn::tensor::TensorData;
use burn::tensor::ops::FloatTensor;
use burn_flex::{Flex, FlexTensor};
use rayon::prelude::*;
use realfft::num_complex::Complex;
use realfft::{ComplexToReal, FftNum, RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftDirection, FftPlanner};

use super::SpectralOps;
use crate::ops::support::precision::{Precision, narrow};

impl SpectralOps for Flex {
    fn spectral_rfft(
        signal: FloatTensor<Flex>,
        n: usize,
    ) -> (FloatTensor<Flex>, FloatTensor<Flex>) {
        let dtype = signal.dtype();
        let precision = Precision::of(&[dtype]);
        let signal = precision.widen(signal);
        let (re, im) = match precision {
            Precision::F64 => rfft_typed::<f64>(signal, n),
            Precision::F32 => rfft_typed::<f32>(signal, n),
        };
        (narrow(re, dtype), narrow(im, dtype))
    }

    fn spectral_irfft(re: FloatTensor<Flex>, im: FloatTensor<Flex>, n: usize) -> FloatTensor<Flex> {
        let dtype = re.dtype();
        let precision = Precision::of(&[dtype]);
        let [re, im] = [re, im].map(|t| precision.widen(t));
        let signal = match precision {
            Precision::F64 => irfft_typed::<f64>(re, im, n),
            Precision::F32 => irfft_typed::<f32>(re, im, n),
        };
        narrow(signal, dtype)
    }
}

/// Element types the CPU transforms run in.
pub(crate) trait Real: FftNum + burn::tensor::Element + bytemuck::Pod {
    fn planners() -> &'static std::thread::LocalKey<RefCell<Planners<Self>>>;
}

pub(crate) struct Planners<T: FftNum> {
    planner: RealFftPlanner<T>,
    /// Complex plans (it keeps its own cache).
    complex: FftPlanner<T>,
    forward: HashMap<usize, Arc<dyn RealToComplex<T>>>,
    inverse: HashMap<usize, Arc<dyn ComplexToReal<T>>>,
}

impl<T: FftNum> Planners<T> {
    fn new() -> Self {
        Self {
            planner: RealFftPlanner::new(),
            complex: FftPlanner::new(),
            forward: HashMap::new(),
            inverse: HashMap::new(),
        }
    }
}

thread_local! {
    static PLANNERS_F32: RefCell<Planners<f32>> = RefCell::new(Planners::new());
    static PLANNERS_F64: RefCell<Planners<f64>> = RefCell::new(Planners::new());
}

impl Real for f32 {
    fn planners() -> &'static std::thread::LocalKey<RefCell<Planners<Self>>> {
        &PLANNERS_F32
    }
}

impl Real for f64 {
    fn planners() -> &'static std::thread::LocalKey<RefCell<Planners<Self>>> {
        &PLANNERS_F64
    }
}

pub(crate) fn forward_plan<T: Real>(n: usize) -> Arc<dyn RealToComplex<T>> {
    T::planners().with(|p| {
        let mut p = p.borrow_mut();
        if let Some(plan) = p.forward.get(&n) {
            return plan.clone();
        }
        let plan = p.planner.plan_fft_forward(n);
        p.forward.insert(n, plan.clone());
        plan
    })
}

pub(crate) fn inverse_plan<T: Real>(n: usize) -> Arc<dyn ComplexToReal<T>> {
    T::planners().with(|p| {
        let mut p = p.borrow_mut();
        if let Some(plan) = p.inverse.get(&n) {
            return plan.clone();
        }
        let plan = p.planner.plan_fft_inverse(n);
        p.inverse.insert(n, plan.clone());
        plan
    })
}

/// The complex FFT of length n in `direction` (unscaled both ways).
pub(crate) fn complex_plan<T: Real>(n: usize, direction: FftDirection) -> Arc<dyn Fft<T>> {
    T::planners().with(|p| p.borrow_mut().complex.plan_fft(n, direction))
}

/// Rows per rayon task: enough work to amortise scheduling.
fn rows_per_task(row_len: usize) -> usize {
    (16_384 / row_len.max(1)).max(1)
}

fn rfft_typed<T: Real>(signal: FlexTensor, n: usize) -> (FlexTensor, FlexTensor) {
    let signal = signal.to_contiguous();
    let mut dims = signal.layout().shape().as_slice().to_vec();
    let m = *dims.last().expect("rfft needs at least one dimension");
    let data: &[T] = signal.storage();
    let bins = n / 2 + 1;
    let rows = data.len().checked_div(m).unwrap_or(0);
    let mut re = vec![T::zero(); rows * bins];
    let mut im = vec![T::zero(); rows * bins];
    let chunk = rows_per_task(n);
    re.par_chunks_mut(bins * chunk)
        .zip(im.par_chunks_mut(bins * chunk))
        .enumerate()
        .for_each(|(task, (re, im))| {
            let plan = forward_plan::<T>(n);
            let mut input = plan.make_input_vec();
            let mut output = plan.make_output_vec();
            let mut scratch = plan.make_scratch_vec();
            for (r, (re, im)) in re.chunks_mut(bins).zip(im.chunks_mut(bins)).enumerate() {
                let row = task * chunk + r;
                let src = &data[row * m..row * m + m.min(n)];
                input[..src.len()].copy_from_slice(src);
                input[src.len()..].iter_mut().for_each(|x| *x = T::zero());
                plan.process_with_scratch(&mut input, &mut output, &mut scratch)
                    .expect("buffer sizes come from the plan");
                for (k, z) in output.iter().enumerate() {
                    re[k] = z.re;
                    im[k] = z.im;
                }
            }
        });
    *dims.last_mut().unwrap() = bins;
    (
        FlexTensor::from_data(TensorData::new(re, dims.clone())),
        FlexTensor::from_data(TensorData::new(im, dims)),
    )
}

fn irfft_typed<T: Real>(re: FlexTensor, im: FlexTensor, n: usize) -> FlexTensor {
    let re = re.to_contiguous();
    let im = im.to_contiguous();
    let mut dims = re.layout().shape().as_slice().to_vec();
    assert_eq!(
        dims,
        im.layout().shape().as_slice(),
        "irfft: real and imaginary parts differ in shape"
    );
    let m = *dims.last().expect("irfft needs at least one dimension");
    let re_data: &[T] = re.storage();
    let im_data: &[T] = im.storage();
    let bins = n / 2 + 1;
    let used = m.min(bins);
    let rows = re_data.len().checked_div(m).unwrap_or(0);
    let scale = T::one() / T::from_usize(n).expect("n fits the float type");
    let mut out = vec![T::zero(); rows * n];
    let chunk = rows_per_task(n);
    out.par_chunks_mut(n * chunk)
        .enumerate()
        .for_each(|(task, out)| {
            let plan = inverse_plan::<T>(n);
            let mut input = plan.make_input_vec();
            let mut output = plan.make_output_vec();
            let mut scratch = plan.make_scratch_vec();
            for (r, out) in out.chunks_mut(n).enumerate() {
                let row = task * chunk + r;
                for k in 0..bins {
                    input[k] = if k < used {
                        Complex::new(re_data[row * m + k], im_data[row * m + k])
                    } else {
                        Complex::new(T::zero(), T::zero())
                    };
                }
                // The DC bin (and the Nyquist bin of an even length) is real.
                input[0].im = T::zero();
                if n.is_multiple_of(2) {
                    input[bins - 1].im = T::zero();
                }
                plan.process_with_scratch(&mut input, &mut output, &mut scratch)
                    .expect("buffer sizes come from the plan");
                for (o, x) in out.iter_mut().zip(&output) {
                    *o = *x * scale;
                }
            }
        });
    *dims.last_mut().unwrap() = n;
    FlexTensor::from_data(TensorData::new(out, dims))
}
