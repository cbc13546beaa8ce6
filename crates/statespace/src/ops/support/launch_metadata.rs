//! How CUDA kernel launches pass their metadata (the shapes and strides
//! CubeCL hands each kernel beside its buffers), chosen from the
//! environment for A/B runs without a rebuild.
//!
//! `SSM_CUDA_METADATA` is `ring` (the vendored cubecl-cuda's ring per
//! stream, used when the variable is unset: one asynchronous copy per launch
//! into memory reserved once; `vendor/cubecl-cuda/src/metadata_ring.rs`) or
//! `pool` (cubecl's own way: a pinned buffer and a device buffer from the
//! memory pools per launch, and a host wait every 64 uploads). The ring
//! measured faster (h100, 2026-12-07, under the `classes` pool layout: the
//! ListOps S4 and S4D training loops 9 % and 6 % more steps a second;
//! docs/ARCHITECTURE.md). The
//! choice applies to streams created after it is set, so `ssm` calls
//! [`apply_launch_metadata`] when it starts on CUDA, before the first
//! tensor; a library user calls it the same way.

use crate::error::Result;

/// The environment variable that names the choice.
pub const LAUNCH_METADATA_ENV: &str = "SSM_CUDA_METADATA";

/// Where launches put their metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LaunchMetadata {
    /// A fresh allocation from the memory pools per launch (cubecl's own).
    Pool,
    /// A ring buffer per stream (the default).
    Ring,
}

impl LaunchMetadata {
    /// The value of `SSM_CUDA_METADATA` that names it.
    pub fn name(self) -> &'static str {
        match self {
            LaunchMetadata::Pool => "pool",
            LaunchMetadata::Ring => "ring",
        }
    }
}

/// Parses a value of `SSM_CUDA_METADATA` (surrounding blanks ignored); any
/// other value is an error naming the variable and the choices.
pub fn parse_launch_metadata(text: &str) -> Result<LaunchMetadata> {
    super::env_setting::named_choice(
        text,
        &[LaunchMetadata::Pool, LaunchMetadata::Ring],
        LaunchMetadata::name,
        LAUNCH_METADATA_ENV,
        "a way to pass launch metadata",
    )
}

/// Reads `SSM_CUDA_METADATA` and applies it, to be called before the first
/// tensor on CUDA; returns it (`None` when the variable is unset: the ring,
/// the vendored runtime's default, stays). A value it does not name is an
/// error.
#[cfg(feature = "cuda")]
pub fn apply_launch_metadata() -> Result<Option<LaunchMetadata>> {
    let choice = super::env_setting::env_setting(LAUNCH_METADATA_ENV, parse_launch_metadata)?;
    if let Some(choice) = choice {
        cubecl::cuda::set_metadata_ring(choice == LaunchMetadata::Ring);
    }
    Ok(choice)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_parse_by_name_and_others_are_named_errors() {
        assert_eq!(
            parse_launch_metadata(" ring ").unwrap(),
            LaunchMetadata::Ring
        );
        assert_eq!(parse_launch_metadata("pool").unwrap(), LaunchMetadata::Pool);
        let e = parse_launch_metadata("buffer").unwrap_err().to_string();
        assert!(
            e.contains(LAUNCH_METADATA_ENV) && e.contains("`buffer`") && e.contains("ring"),
            "{e}"
        );
    }
}
