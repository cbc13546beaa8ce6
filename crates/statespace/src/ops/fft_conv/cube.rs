//! The convolution on CubeCL devices. Where cuFFT loads (`ops::cuda_libs`):
//! both passes as cuFFT transforms between the CubeCL kernels of
//! [`super::kernels`] (channel-last ↔ padded rows, the per-frequency
//! products), in f32 whatever the storage type. Without cuFFT the layers
//! run the differentiable composite instead, and this op's backward runs
//! the CPU kernel through host memory.

use burn::tensor::ops::FloatTensor;
use burn::tensor::{DType, Tensor, TensorPrimitive};
use burn_cubecl::cubecl::prelude::{CubeCount, CubeDim};
use burn_cubecl::kernel::into_contiguous;
use burn_cubecl::tensor::CubeTensor;
use burn_cubecl::{BoolElement, CubeBackend, CubeRuntime, FloatElement, IntElement};
use burn_flex::Flex;

use super::kernels::{
    padded_rows, rows_to_sequence, spectra_correlation, spectra_product, strip_column_sums,
};
use super::plan::{Grid, Spectral};
use super::{FftConvOps, fft_conv_composite};
use crate::ops::cuda_libs::cufft;
use crate::ops::support::host::{from_host, to_host};
use crate::ops::support::launch::{F32Cube, LINEAR_UNITS, empty_f32, linear_cubes};

impl<R: CubeRuntime, F: FloatElement, I: IntElement, BT: BoolElement> FftConvOps
    for CubeBackend<R, F, I, BT>
{
    fn fft_conv_prefers_composite() -> bool {
        !cufft::available()
    }

    fn fft_conv(
        u: FloatTensor<Self>,
        k: FloatTensor<Self>,
        d: FloatTensor<Self>,
        n: usize,
    ) -> FloatTensor<Self> {
        if [&u, &k, &d].iter().any(|t| t.dtype == DType::F64) {
            // The device passes compute in f32: f64 runs the CPU's f64
            // kernel through host memory.
            let device = u.device.clone();
            let y = Flex::fft_conv(
                to_host::<Self>(u),
                to_host::<Self>(k),
                to_host::<Self>(d),
                n,
            );
            return from_host::<Self>(y, &device);
        }
        if let Some(y) = spectral(&u, &k, n).and_then(|s| s.forward(&u, &k, &d)) {
            return y;
        }
        let u = Tensor::<Self, 3>::from_primitive(TensorPrimitive::Float(u));
        let k = Tensor::<Self, 3>::from_primitive(TensorPrimitive::Float(k));
        let d = Tensor::<Self, 2>::from_primitive(TensorPrimitive::Float(d));
        fft_conv_composite(u, k, d, n).into_primitive().tensor()
    }

    fn fft_conv_backward(
        u: FloatTensor<Self>,
        k: FloatTensor<Self>,
        d: FloatTensor<Self>,
        grad_y: FloatTensor<Self>,
        n: usize,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let f64_inputs = [&u, &k, &d, &grad_y].iter().any(|t| t.dtype == DType::F64);
        if !f64_inputs
            && let Some(grads) = spectral(&u, &k, n).and_then(|s| s.backward(&u, &k, &d, &grad_y))
        {
            return grads;
        }
        // The CPU kernel through host memory (for f64, and where cuFFT cannot
        // run): differentiating the composite with a nested autodiff graph
        // inside the outer backward pass stalls.
        let device = u.device.clone();
        let (du, dk, dd) = Flex::fft_conv_backward(
            to_host::<Self>(u),
            to_host::<Self>(k),
            to_host::<Self>(d),
            to_host::<Self>(grad_y),
            n,
        );
        (
            from_host::<Self>(du, &device),
            from_host::<Self>(dk, &device),
            from_host::<Self>(dd, &device),
        )
    }
}

/// The sizes of a convolution of `u` with `k` modulo `n`, or `None` where
/// cuFFT cannot run it or the plan refuses it (the caller falls back).
fn spectral<R: CubeRuntime>(u: &CubeTensor<R>, k: &CubeTensor<R>, n: usize) -> Option<Spectral> {
    if !cufft::available() {
        return None;
    }
    Spectral::new(dims::<R, 3>(u), dims::<R, 3>(k), n)
}

/// The passes of one convolution on the device.
impl Spectral {
    /// y (B, L, C·H) in u's dtype.
    fn forward<R: CubeRuntime>(
        &self,
        u: &CubeTensor<R>,
        k: &CubeTensor<R>,
        d: &CubeTensor<R>,
    ) -> Option<CubeTensor<R>> {
        let dtype = u.dtype;
        let (u, k, d) = (f32_contiguous(u), f32_contiguous(k), f32_contiguous(d));
        let u_spectra = self.sequence_spectra(&u, self.channels)?;
        let k_spectra = self.kernel_spectra(&k)?;
        let (b, c, h, f) = (self.batch, self.kernels, self.channels, self.bins());
        let y_spectra = empty_f32(&u, &[b * c * h, f, 2]);
        let units = b * c * h * f;
        // SAFETY: the buffers have the shapes the kernel indexes with
        // (above and in `sequence_spectra`/`kernel_spectra`).
        unsafe {
            spectra_product::launch_unchecked::<R>(
                &u.client,
                linear_cubes(units),
                CubeDim::new_1d(LINEAR_UNITS as u32),
                u_spectra.into_tensor_arg(),
                k_spectra.into_tensor_arg(),
                y_spectra.clone().into_tensor_arg(),
                c as u32,
                h as u32,
                f as u32,
            );
        }
        let y_rows = cufft::irfft_rows(y_spectra, self.n)?;
        let y = self.sequence_from_rows(&y_rows, c * h, &u, &d, h, 1);
        Some(cast(y, dtype))
    }

    /// (∂u (B, L, H), ∂k (C, H, Lk), ∂d (C, H)), in the inputs' dtypes.
    fn backward<R: CubeRuntime>(
        &self,
        u: &CubeTensor<R>,
        k: &CubeTensor<R>,
        d: &CubeTensor<R>,
        grad_y: &CubeTensor<R>,
    ) -> Option<(CubeTensor<R>, CubeTensor<R>, CubeTensor<R>)> {
        let dtypes = (u.dtype, k.dtype, d.dtype);
        let (u, k, d) = (f32_contiguous(u), f32_contiguous(k), f32_contiguous(d));
        let gy = f32_contiguous(grad_y);
        let (b, c, h, f) = (self.batch, self.kernels, self.channels, self.bins());
        let u_spectra = self.sequence_spectra(&u, h)?;
        let k_spectra = self.kernel_spectra(&k)?;
        let gy_spectra = self.sequence_spectra(&gy, c * h)?;
        let correlate = |other: &CubeTensor<R>, rows: usize, over_kernels: bool| {
            let out = empty_f32(&u, &[rows, f, 2]);
            // SAFETY: `other` is (C or B, H, F) and gy (B, C, H, F)
            // complex, `out` (rows, F) complex, as the kernel indexes.
            unsafe {
                spectra_correlation::launch_unchecked::<R>(
                    &u.client,
                    linear_cubes(rows * f),
                    CubeDim::new_1d(LINEAR_UNITS as u32),
                    other.clone().into_tensor_arg(),
                    gy_spectra.clone().into_tensor_arg(),
                    out.clone().into_tensor_arg(),
                    b as u32,
                    c as u32,
                    h as u32,
                    f as u32,
                    over_kernels,
                );
            }
            out
        };
        let du_spectra = correlate(&k_spectra, b * h, true);
        let dk_spectra = correlate(&u_spectra, c * h, false);
        let du_rows = cufft::irfft_rows(du_spectra, self.n)?;
        let du = self.sequence_from_rows(&du_rows, h, &gy, &d, c * h, c);
        // Row (c, h) of the correlation is Σ_b Σ_t gy[b, t, c·H + h]·u[b, t − j, h]
        // at lag j: ∂k for j < Lk.
        let dk_rows = cufft::irfft_rows(dk_spectra, self.n)?;
        let dk = Tensor::<F32Cube<R>, 2>::from_primitive(TensorPrimitive::Float(dk_rows))
            .narrow(1, 0, self.k_len)
            .mul_scalar(1.0 / self.n as f64)
            .reshape([c, h, self.k_len]);
        // ∂d is the same sum at lag 0, summed directly instead: read from
        // the transform, its rounding is relative to the whole correlation
        // row, not to this sum of B·L products that cancel (2.4·10⁻⁵ of ∂d at
        // L = 5000 on an h100 against the parity's 10⁻⁵; docs/ARCHITECTURE.md).
        let dd = self.skip_gradient(&gy, &u);
        Some((
            cast(du, dtypes.0),
            cast(dk.into_primitive().tensor(), dtypes.1),
            cast(dd.into_primitive().tensor(), dtypes.2),
        ))
    }

    /// ∂d (C, H) = Σ_b Σ_t gy[b, t, c·H + h]·u[b, t, h] by
    /// [`strip_column_sums`]: strips of the B·L rows into partial sums, then
    /// the partials (gy (B, L, C·H) and u (B, L, H), contiguous f32).
    fn skip_gradient<R: CubeRuntime>(
        &self,
        gy: &CubeTensor<R>,
        u: &CubeTensor<R>,
    ) -> Tensor<F32Cube<R>, 2> {
        let (c, h) = (self.kernels, self.channels);
        let sums = self.skip_gradient_sums();
        let partials = empty_f32(u, &[sums.strips, c * h]);
        self.column_sums(gy, Some(u), &partials, sums.rows, sums.strip, sums.strips);
        let dd = if sums.strips == 1 {
            partials
        } else {
            let out = empty_f32(u, &[1, c * h]);
            self.column_sums(
                &partials,
                None,
                &out,
                sums.strips,
                sums.strip_of_partials,
                1,
            );
            out
        };
        Tensor::<F32Cube<R>, 2>::from_primitive(TensorPrimitive::Float(dd)).reshape([c, h])
    }

    /// One launch of [`strip_column_sums`]: x (rows, C·H) in `strips` strips
    /// of `strip` rows into out (strips, C·H), each term weighted by
    /// u[r, j mod H] where `u` (rows, H) is given.
    fn column_sums<R: CubeRuntime>(
        &self,
        x: &CubeTensor<R>,
        u: Option<&CubeTensor<R>>,
        out: &CubeTensor<R>,
        rows: usize,
        strip: usize,
        strips: usize,
    ) {
        let (count, cube_dim) = launch_dims(self.column_sum_grid(strips));
        // SAFETY: x is (rows, C·H), u (rows, H), out (strips, C·H),
        // contiguous f32, and strips·strip ≥ rows with strip a multiple of
        // TILE_ROWS (`Spectral::skip_gradient_sums`), as the kernel indexes;
        // without u the kernel reads none of its stand-in.
        unsafe {
            strip_column_sums::launch_unchecked::<R>(
                &x.client,
                count,
                cube_dim,
                x.clone().into_tensor_arg(),
                u.unwrap_or(x).clone().into_tensor_arg(),
                out.clone().into_tensor_arg(),
                rows as u32,
                (self.kernels * self.channels) as u32,
                self.channels as u32,
                strip as u32,
                u.is_some(),
            );
        }
    }

    /// The spectra (B·J, F, 2) of a channel-last sequence s (B, L, J).
    fn sequence_spectra<R: CubeRuntime>(
        &self,
        s: &CubeTensor<R>,
        channels: usize,
    ) -> Option<CubeTensor<R>> {
        let rows = empty_f32(s, &[self.batch * channels, self.n]);
        let (count, cube_dim) = launch_dims(self.tile_grid(self.n, channels));
        // SAFETY: s is (B, L, J) and rows (B, J, n), contiguous f32, as
        // the kernel indexes.
        unsafe {
            padded_rows::launch_unchecked::<R>(
                &s.client,
                count,
                cube_dim,
                s.clone().into_tensor_arg(),
                rows.clone().into_tensor_arg(),
                self.len as u32,
                channels as u32,
                self.n as u32,
            );
        }
        cufft::rfft_rows(&rows, self.n)
    }

    /// The spectra (C·H, F, 2) of the kernels k (C, H, Lk), zero-padded.
    fn kernel_spectra<R: CubeRuntime>(&self, k: &CubeTensor<R>) -> Option<CubeTensor<R>> {
        let rows = self.kernels * self.channels;
        let k = Tensor::<F32Cube<R>, 3>::from_primitive(TensorPrimitive::Float(k.clone()))
            .reshape([rows, self.k_len]);
        cufft::rfft_rows(&k.into_primitive().tensor(), self.n)
    }

    /// Rows x (B, J, n) of unnormalised inverse transforms back to a
    /// sequence (B, L, J), divided by n, plus Σ_{i<terms} w·s (see
    /// [`rows_to_sequence`]) with s (B, L, Js) and w = d (C·H).
    fn sequence_from_rows<R: CubeRuntime>(
        &self,
        x: &CubeTensor<R>,
        channels: usize,
        s: &CubeTensor<R>,
        d: &CubeTensor<R>,
        skip_channels: usize,
        terms: usize,
    ) -> CubeTensor<R> {
        let out = empty_f32(x, &[self.batch, self.len, channels]);
        let (count, cube_dim) = launch_dims(self.tile_grid(self.len, channels));
        // SAFETY: x is (B, J, n), s (B, L, Js), d (C·H) and out (B, L, J),
        // contiguous f32, as the kernel indexes.
        unsafe {
            rows_to_sequence::launch_unchecked::<R>(
                &x.client,
                count,
                cube_dim,
                x.clone().into_tensor_arg(),
                s.clone().into_tensor_arg(),
                d.clone().into_tensor_arg(),
                out.clone().into_tensor_arg(),
                self.len as u32,
                channels as u32,
                self.n as u32,
                skip_channels as u32,
                terms as u32,
                1.0 / self.n as f32,
            );
        }
        out
    }
}

fn dims<R: CubeRuntime, const D: usize>(t: &CubeTensor<R>) -> [usize; D] {
    let shape = t.meta.shape().as_slice();
    std::array::from_fn(|i| shape.get(i).copied().unwrap_or(0))
}

/// A contiguous f32 copy of `t` (itself if it already is one).
fn f32_contiguous<R: CubeRuntime>(t: &CubeTensor<R>) -> CubeTensor<R> {
    let t = into_contiguous(t.clone());
    if t.dtype == DType::F32 {
        t
    } else {
        cast(t, DType::F32)
    }
}

fn cast<R: CubeRuntime>(t: CubeTensor<R>, dtype: DType) -> CubeTensor<R> {
    if t.dtype == dtype {
        return t;
    }
    burn_cubecl::kernel::cast(t, dtype)
}

/// A plan's grid as CubeCL's launch arguments.
fn launch_dims(([x, y, z], [units_x, units_y]): Grid) -> (CubeCount, CubeDim) {
    (
        CubeCount::Static(x, y, z),
        CubeDim::new_2d(units_x, units_y),
    )
}
