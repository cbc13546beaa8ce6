//! GPU transforms: cuFFT for f32 and f64 on CUDA devices where the library
//! loads (`ops::cuda_libs`); otherwise f64 runs the CPU's transform through
//! host memory, and f32 burn's CubeCL FFT for power-of-two lengths, other
//! lengths as exact f32 matmuls with the DFT's cosine and sine matrices,
//! built on the device (length 1 is the identity).

use burn::tensor::ops::{FloatTensor, FloatTensorOps, ModuleOps};
use burn::tensor::{DType, Int, Slice, Tensor, TensorData, TensorMetadata, TensorPrimitive};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use burn_flex::Flex;

use super::SpectralOps;
use crate::ops::cuda_libs::cufft;
use crate::ops::matmul::MatmulOps;
use crate::ops::support::host::{from_host, to_host};
use crate::ops::support::launch::F32Cube;

/// rfft through cuFFT, in the signal's dtype: `None` where it cannot run
/// (not f32 or f64, no library), so the caller takes another route.
fn rfft_by_cufft<R: CubeRuntime>(
    signal: &CubeTensor<R>,
    n: usize,
) -> Option<(CubeTensor<R>, CubeTensor<R>)> {
    if !cufft::transforms(signal.dtype) || !cufft::available() {
        return None;
    }
    let (x, lead) = as_matrix::<F32Cube<R>>(signal.clone());
    let rows = x.dims()[0];
    let spectra = cufft::rfft_rows(&into_contiguous(x.into_primitive().tensor()), n)?;
    let spectra = Tensor::<F32Cube<R>, 3>::from_primitive(TensorPrimitive::Float(spectra));
    let part = |i: usize| spectra.clone().narrow(2, i, 1).reshape([rows, n / 2 + 1]);
    Some((from_matrix(part(0), &lead), from_matrix(part(1), &lead)))
}

/// irfft through cuFFT (see [`rfft_by_cufft`]): the spectrum's first
/// min(m, n/2 + 1) bins, the imaginary parts of DC and Nyquist dropped,
/// scaled by 1/n, in the spectrum's dtype.
fn irfft_by_cufft<R: CubeRuntime>(
    re: &CubeTensor<R>,
    im: &CubeTensor<R>,
    n: usize,
) -> Option<CubeTensor<R>> {
    let dtype = re.dtype;
    if !cufft::transforms(dtype) || im.dtype != dtype || !cufft::available() {
        return None;
    }
    let (re, lead) = as_matrix::<F32Cube<R>>(re.clone());
    let (im, _) = as_matrix::<F32Cube<R>>(im.clone());
    let [rows, given] = re.dims();
    let bins = n / 2 + 1;
    let used = given.min(bins);
    let device = re.device();
    // 1/n rounded once to the dtype (for f32 the same value as 1f32 / n).
    let im_scale: Vec<f64> = (0..used)
        .map(|k| {
            if k == 0 || 2 * k == n {
                0.0
            } else {
                1.0 / n as f64
            }
        })
        .collect();
    let im_scale =
        Tensor::<F32Cube<R>, 2>::from_data(TensorData::new(im_scale, [1, used]), (&device, dtype));
    let re = re.narrow(1, 0, used).mul_scalar(1.0 / n as f64);
    let im = im.narrow(1, 0, used) * im_scale;
    let mut spectra = Tensor::stack::<3>(vec![re, im], 2); // (rows, used, 2)
    if used < bins {
        let pad = Tensor::zeros([rows, bins - used, 2], (&device, dtype));
        spectra = Tensor::cat(vec![spectra, pad], 1);
    }
    let x = cufft::irfft_rows(into_contiguous(spectra.into_primitive().tensor()), n)?;
    let x = Tensor::<F32Cube<R>, 2>::from_primitive(TensorPrimitive::Float(x));
    Some(from_matrix(x, &lead))
}

/// cos and sin of 2π·k·t/n for k in 0..rows, t in 0..cols, each
/// (rows, cols), the angle reduced mod n in integers first (exact).
fn dft_matrices<B: MatmulOps>(
    rows: usize,
    cols: usize,
    n: usize,
    device: &B::Device,
) -> (Tensor<B, 2>, Tensor<B, 2>) {
    let k = Tensor::<B, 1, Int>::arange(0..rows as i64, device).reshape([rows, 1]);
    let t = Tensor::<B, 1, Int>::arange(0..cols as i64, device).reshape([1, cols]);
    let angle = (k * t)
        .remainder_scalar(n as i64)
        .float()
        .mul_scalar(2.0 * std::f64::consts::PI / n as f64);
    (angle.clone().cos(), angle.sin())
}

/// `x` (…, m) as a matrix (rows, m), and the leading dimensions.
fn as_matrix<B: MatmulOps>(x: FloatTensor<B>) -> (Tensor<B, 2>, Vec<usize>) {
    let dims: Vec<usize> = x.shape().as_slice().to_vec();
    let m = *dims.last().expect("a transform needs a dimension");
    let lead = dims[..dims.len() - 1].to_vec();
    let rows = lead.iter().product();
    let matrix = B::float_reshape(x, burn::tensor::Shape::new([rows, m]));
    (Tensor::from_primitive(TensorPrimitive::Float(matrix)), lead)
}

/// A matrix (rows, c) back to (lead…, c).
fn from_matrix<B: MatmulOps>(x: Tensor<B, 2>, lead: &[usize]) -> FloatTensor<B> {
    let c = x.dims()[1];
    let mut shape = lead.to_vec();
    shape.push(c);
    B::float_reshape(
        x.into_primitive().tensor(),
        burn::tensor::Shape::from(shape),
    )
}

/// The backend's exact product of matrices this file builds (their shapes
/// agree by construction, so the checks of [`crate::ops::matmul()`] are not
/// needed).
fn matmul<B: MatmulOps>(a: Tensor<B, 2>, b: Tensor<B, 2>) -> Tensor<B, 2> {
    let product = B::exact_matmul(a.into_primitive().tensor(), b.into_primitive().tensor());
    Tensor::from_primitive(TensorPrimitive::Float(product))
}

/// rfft of any length n as two matmuls: Re X_k = Σ_t x_t cos(2πkt/n),
/// Im X_k = −Σ_t x_t sin(2πkt/n), over the first min(m, n) samples.
fn rfft_by_matmul<B: MatmulOps>(
    signal: FloatTensor<B>,
    n: usize,
) -> (FloatTensor<B>, FloatTensor<B>) {
    let (x, lead) = as_matrix::<B>(signal);
    let used = x.dims()[1].min(n);
    let x = x.narrow(1, 0, used);
    let (cos, sin) = dft_matrices::<B>(used, n / 2 + 1, n, &x.device());
    let re = matmul(x.clone(), cos);
    let im = matmul(x, sin).neg();
    (from_matrix(re, &lead), from_matrix(im, &lead))
}

/// irfft of any length n as two matmuls: x_t = (1/n) Σ_k c_k (Re X_k
/// cos(2πkt/n) − Im X_k sin(2πkt/n)), c_k = 1 for DC and Nyquist, else 2,
/// over the first min(m, n/2 + 1) bins (the sine rows of DC and Nyquist
/// vanish, so their imaginary parts are ignored).
fn irfft_by_matmul<B: MatmulOps>(
    re: FloatTensor<B>,
    im: FloatTensor<B>,
    n: usize,
) -> FloatTensor<B> {
    let (re, lead) = as_matrix::<B>(re);
    let (im, _) = as_matrix::<B>(im);
    let bins = re.dims()[1].min(n / 2 + 1);
    let (re, im) = (re.narrow(1, 0, bins), im.narrow(1, 0, bins));
    let device = re.device();
    let weights: Vec<f32> = (0..bins)
        .map(|k| if k == 0 || 2 * k == n { 1.0 } else { 2.0 } / n as f32)
        .collect();
    let weights = Tensor::<B, 1>::from_floats(weights.as_slice(), &device).reshape([bins, 1]);
    let (cos, sin) = dft_matrices::<B>(bins, n, n, &device);
    let x = matmul(re, cos * weights.clone()) - matmul(im, sin * weights);
    from_matrix(x, &lead)
}

/// The first element of the last dimension.
fn first<B: burn::tensor::backend::Backend>(t: FloatTensor<B>) -> FloatTensor<B> {
    let dims: Vec<usize> = t.shape().as_slice().to_vec();
    let ranges: Vec<Slice> = dims
        .iter()
        .enumerate()
        .map(|(i, &d)| Slice::from(if i + 1 == dims.len() { 0..1 } else { 0..d }))
        .collect();
    B::float_slice(t, &ranges)
}

/// `im` with the bins at `bins` of its last dimension set to zero.
fn zero_bins<B: burn::tensor::backend::Backend>(
    mut im: FloatTensor<B>,
    bins: &[usize],
) -> FloatTensor<B> {
    let dims: Vec<usize> = im.shape().as_slice().to_vec();
    let last = dims.len() - 1;
    for &bin in bins.iter().filter(|&&b| b < dims[last]) {
        let ranges: Vec<Slice> = dims
            .iter()
            .enumerate()
            .map(|(i, &d)| Slice::from(if i == last { bin..bin + 1 } else { 0..d }))
            .collect();
        let zeros = B::float_mul_scalar(B::float_slice(im.clone(), &ranges), 0.0.into());
        im = B::float_slice_assign(im, &ranges, zeros);
    }
    im
}

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> SpectralOps
    for CubeBackend<R, F, I, BT>
{
    fn spectral_rfft(
        signal: FloatTensor<Self>,
        n: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>) {
        if n == 1 {
            let x = first::<Self>(signal);
            let zeros = Self::float_mul_scalar(x.clone(), 0.0.into());
            return (x, zeros);
        }
        if let Some(spectrum) = rfft_by_cufft(&signal, n) {
            return spectrum;
        }
        if signal.dtype == DType::F64 {
            // f64 without cuFFT through host memory: cubek's matmul has no
            // f64.
            let device = signal.device.clone();
            let (re, im) = Flex::spectral_rfft(to_host::<Self>(signal), n);
            return (
                from_host::<Self>(re, &device),
                from_host::<Self>(im, &device),
            );
        }
        if !n.is_power_of_two() {
            return rfft_by_matmul::<Self>(signal, n);
        }
        let last = signal.shape().num_dims() - 1;
        <Self as ModuleOps<Self>>::rfft(signal, last, Some(n))
    }

    fn spectral_irfft(re: FloatTensor<Self>, im: FloatTensor<Self>, n: usize) -> FloatTensor<Self> {
        if n == 1 {
            return first::<Self>(re);
        }
        if let Some(signal) = irfft_by_cufft(&re, &im, n) {
            return signal;
        }
        if re.dtype == DType::F64 || im.dtype == DType::F64 {
            let device = re.device.clone();
            let signal = Flex::spectral_irfft(to_host::<Self>(re), to_host::<Self>(im), n);
            return from_host::<Self>(signal, &device);
        }
        if !n.is_power_of_two() {
            return irfft_by_matmul::<Self>(re, im, n);
        }
        // The DC and Nyquist bins are real by the trait's contract: their
        // imaginary parts (which gradients can carry) must not reach the
        // transform, which would otherwise use them.
        let im = zero_bins::<Self>(im, &[0, n / 2]);
        let last = re.shape().num_dims() - 1;
        <Self as ModuleOps<Self>>::irfft(re, im, last, Some(n))
    }
}
