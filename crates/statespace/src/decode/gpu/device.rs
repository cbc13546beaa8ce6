//! The CUDA context, stream and kernels of the fused GPU decoder, and its
//! device buffers: plain allocations addressed by raw pointers, so that a
//! whole token step can be captured once as a CUDA graph and replayed.

use std::sync::Arc;

use cudarc::driver::sys::{CUdevice_attribute, CUgraphInstantiate_flags, CUstreamCaptureMode};
use cudarc::driver::{
    CudaContext, CudaFunction, CudaGraph, CudaSlice, CudaStream, DevicePtr, DeviceRepr,
    LaunchConfig, PushKernelArg, ValidAsZeroBits,
};
use cudarc::nvrtc::{CompileOptions, compile_ptx_with_opts};

use super::blas::Blas;
use crate::error::{Error, Result};

/// The kernels' CUDA C source.
const SOURCE: &str = include_str!("kernels.cu");

/// A CUDA failure as the crate's error.
pub(super) fn cuda_error(what: &str, e: impl std::fmt::Debug) -> Error {
    Error::Device {
        tensor: "fused GPU decoder".into(),
        message: format!("{what}: {e:?}"),
    }
}

/// A kernel argument: a device address, an integer or a float.
#[derive(Clone, Copy)]
pub(super) enum Arg {
    Ptr(u64),
    Int(i32),
    Float(f32),
}

impl Arg {
    /// A size as an `int` argument (the kernels index with 32-bit ints).
    pub(super) fn size(n: usize) -> Result<Self> {
        i32::try_from(n)
            .map(Arg::Int)
            .map_err(|_| cuda_error("a size past 2³¹", n))
    }
}

/// Device memory of `T`, kept with its address.
pub(super) struct Buffer<T> {
    slice: CudaSlice<T>,
    ptr: u64,
}

impl<T> Buffer<T> {
    /// The device address, as a kernel argument.
    pub(super) fn arg(&self) -> Arg {
        Arg::Ptr(self.ptr)
    }

    pub(super) fn len(&self) -> usize {
        self.slice.len()
    }

    /// The device address.
    pub(super) fn address(&self) -> u64 {
        self.ptr
    }
}

/// One device's context, stream and compiled kernels.
pub(super) struct Gpu {
    stream: Arc<CudaStream>,
    kernels: Vec<(&'static str, CudaFunction)>,
    /// Streaming multiprocessors, which the products' grids are sized to.
    pub(super) multiprocessors: usize,
    /// cuBLAS, where the products run as GEMMs (large batches; see
    /// [`Self::use_blas`]).
    pub(super) blas: Option<Blas>,
}

/// Every entry point of `kernels.cu`.
const KERNELS: [&str; 17] = [
    "gemv_f32",
    "gemv_bf16",
    "gemv_f16",
    "norm_gemv_f32",
    "norm_gemv_bf16",
    "norm_gemv_f16",
    "embed",
    "conv_step",
    "scan_step_f32",
    "scan_step_bf16",
    "scan_step_f16",
    "argmax",
    "add_rms_norm",
    "add_bias",
    "to_half",
    "ssd_step",
    "gated_norm",
];

impl Gpu {
    /// Opens device `ordinal` (its primary context, which CubeCL shares),
    /// a stream of its own, and compiles the kernels for the device's
    /// architecture with NVRTC.
    pub(super) fn new(ordinal: usize) -> Result<Self> {
        let context =
            CudaContext::new(ordinal).map_err(|e| cuda_error("cannot open the CUDA device", e))?;
        // One stream only, ordered by construction: no events between
        // launches (they would also break graph capture).
        // SAFETY: every buffer of this decoder is used on `stream` alone.
        unsafe { context.disable_event_tracking() };
        let (major, minor) = context
            .compute_capability()
            .map_err(|e| cuda_error("cannot read the compute capability", e))?;
        let multiprocessors = context
            .attribute(CUdevice_attribute::CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT)
            .map_err(|e| cuda_error("cannot read the multiprocessor count", e))?
            as usize;
        let arch = format!("--gpu-architecture=sm_{major}{minor}");
        let ptx = compile_ptx_with_opts(
            SOURCE,
            CompileOptions {
                options: vec![arch],
                ..Default::default()
            },
        )
        .map_err(|e| cuda_error("NVRTC could not compile the decode kernels", e))?;
        let module = context
            .load_module(ptx)
            .map_err(|e| cuda_error("cannot load the decode kernels", e))?;
        let kernels = KERNELS
            .iter()
            .map(|&name| {
                module
                    .load_function(name)
                    .map(|f| (name, f))
                    .map_err(|e| cuda_error(name, e))
            })
            .collect::<Result<Vec<_>>>()?;
        let stream = context
            .new_stream()
            .map_err(|e| cuda_error("cannot create a stream", e))?;
        Ok(Self {
            stream,
            kernels,
            multiprocessors,
            blas: None,
        })
    }

    /// Runs the products as cuBLAS GEMMs from now on, with room to round
    /// `staging` activations to 16 bits for 16-bit weights.
    pub(super) fn use_blas(&mut self, staging: usize) -> Result<()> {
        self.blas = Some(Blas::new(self, staging)?);
        Ok(())
    }

    /// The stream's raw handle.
    pub(super) fn cu_stream(&self) -> cudarc::driver::sys::CUstream {
        self.stream.cu_stream()
    }

    /// A copy of `values` on the device.
    pub(super) fn upload<T: DeviceRepr>(&self, values: &[T]) -> Result<Buffer<T>> {
        let slice = self
            .stream
            .clone_htod(values)
            .map_err(|e| cuda_error("cannot upload", e))?;
        Ok(Self::wrap(&self.stream, slice))
    }

    /// `len` zeros on the device.
    pub(super) fn zeros<T: DeviceRepr + ValidAsZeroBits>(&self, len: usize) -> Result<Buffer<T>> {
        let slice = self
            .stream
            .alloc_zeros(len.max(1))
            .map_err(|e| cuda_error("cannot allocate", e))?;
        Ok(Self::wrap(&self.stream, slice))
    }

    fn wrap<T>(stream: &CudaStream, slice: CudaSlice<T>) -> Buffer<T> {
        let ptr = {
            let (ptr, _sync) = slice.device_ptr(stream);
            ptr
        };
        Buffer { slice, ptr }
    }

    /// Overwrites the start of `buffer` with `values`.
    pub(super) fn write<T: DeviceRepr>(&self, values: &[T], buffer: &mut Buffer<T>) -> Result<()> {
        self.stream
            .memcpy_htod(values, &mut buffer.slice)
            .map_err(|e| cuda_error("cannot upload", e))
    }

    /// Reads the start of `buffer` into `out`, after all queued work.
    pub(super) fn read<T: DeviceRepr>(&self, buffer: &Buffer<T>, out: &mut [T]) -> Result<()> {
        let view = buffer.slice.slice(..out.len());
        self.stream
            .memcpy_dtoh(&view, out)
            .map_err(|e| cuda_error("cannot download", e))?;
        self.stream
            .synchronize()
            .map_err(|e| cuda_error("a decode kernel failed", e))
    }

    /// Queues kernel `name` on `blocks` blocks of `threads` threads.
    pub(super) fn launch(
        &self,
        name: &str,
        blocks: usize,
        threads: usize,
        args: &[Arg],
    ) -> Result<()> {
        self.launch_shared(name, blocks, threads, 0, args)
    }

    /// [`Self::launch`] with `shared` bytes of dynamic shared memory per block.
    pub(super) fn launch_shared(
        &self,
        name: &str,
        blocks: usize,
        threads: usize,
        shared: usize,
        args: &[Arg],
    ) -> Result<()> {
        let function = &self
            .kernels
            .iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("kernel {name} is in KERNELS"))
            .1;
        let mut launch = self.stream.launch_builder(function);
        for arg in args {
            match arg {
                Arg::Ptr(p) => launch.arg(p),
                Arg::Int(v) => launch.arg(v),
                Arg::Float(v) => launch.arg(v),
            };
        }
        let config = LaunchConfig {
            grid_dim: (
                u32::try_from(blocks.max(1)).map_err(|e| cuda_error(name, e))?,
                1,
                1,
            ),
            block_dim: (threads as u32, 1, 1),
            shared_mem_bytes: shared as u32,
        };
        // SAFETY: the arguments match the kernel's signature in kernels.cu
        // (each caller passes them in that order), and every address is a
        // live buffer of this decoder large enough for the sizes passed.
        unsafe { launch.launch(config) }
            .map(drop)
            .map_err(|e| cuda_error(name, e))
    }

    /// Records what `work` queues as a graph instead of running it.
    pub(super) fn capture(&self, work: impl FnOnce() -> Result<()>) -> Result<CudaGraph> {
        self.stream
            .begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
            .map_err(|e| cuda_error("cannot start a graph capture", e))?;
        let queued = work();
        let graph = self
            .stream
            .end_capture(CUgraphInstantiate_flags(0))
            .map_err(|e| cuda_error("cannot capture the decode step as a graph", e));
        queued?;
        graph?.ok_or_else(|| cuda_error("graph capture", "recorded nothing"))
    }

    /// Waits for all queued work.
    pub(super) fn synchronize(&self) -> Result<()> {
        self.stream
            .synchronize()
            .map_err(|e| cuda_error("a decode kernel failed", e))
    }
}
