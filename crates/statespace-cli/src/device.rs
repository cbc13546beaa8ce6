//! The `--device` option: which burn backend runs the work.

use clap::ValueEnum;

/// A compute device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DeviceKind {
    /// The CPU (burn's Flex backend, multi-threaded).
    Cpu,
    /// An NVIDIA GPU through CUDA (kernels compiled at run time by NVRTC);
    /// needs a binary built with `--features cuda`.
    Cuda,
}

/// Runs `$body` with `B` bound to the backend of `$kind` and `device` to its
/// device value; fails clearly when the binary lacks CUDA support.
macro_rules! with_backend {
    ($kind:expr, |$b:ident, $device:ident| $body:expr) => {{
        match $kind {
            $crate::device::DeviceKind::Cpu => {
                type $b = burn::backend::Flex;
                let $device: burn::tensor::Device<$b> = Default::default();
                $body
            }
            $crate::device::DeviceKind::Cuda => {
                #[cfg(feature = "cuda")]
                {
                    type $b = burn::backend::Cuda;
                    let $device: burn::tensor::Device<$b> = Default::default();
                    $body
                }
                #[cfg(not(feature = "cuda"))]
                {
                    Err(anyhow::anyhow!(
                        "this ssm binary was built without CUDA support: rebuild with \
                         `cargo build --release --features cuda`, or use --device cpu"
                    ))
                }
            }
        }
    }};
}

pub(crate) use with_backend;
