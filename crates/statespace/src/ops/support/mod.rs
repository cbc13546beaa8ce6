//! What the op modules share: the input checks of their entry points
//! ([`check`]), the precision their CPU kernels compute in
//! ([`precision`]) and the host helpers of those kernels ([`flex_values`],
//! [`fast_math`], [`row_update`], [`fresh`] output buffers, [`lane_sum`]
//! reductions, [`fixed_parts`] for parallel sums that do not depend on the
//! scheduling, and [`wide`] for their loops on AVX2),
//! the conversions between tensors and backend primitives
//! ([`primitive`]), the 32-bit index limit of the kernels' launch plans
//! ([`index_limit`]) and the storage types the kernels take
//! ([`kernel_types`]), the chunking of the scans along L ([`chunk_plan`]),
//! the CUDA kernels' occupancy hints and their override from the
//! environment ([`occupancy`]), and on CUDA builds the CubeCL launch helpers
//! (`launch`) and the host round trip of ops without a device kernel
//! (`host`).

pub(crate) mod check;
// The launch plan of the CUDA chunked scans; compiled and tested on every
// build.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
pub(crate) mod chunk_plan;
pub(crate) mod env_setting;
pub(crate) mod fast_math;
pub(crate) mod fixed_parts;
pub(crate) mod flex_values;
pub(crate) mod fresh;
#[cfg(feature = "cuda")]
pub(crate) mod host;
pub(crate) mod lane_sum;
// Used by the CUDA launchers and their plans; compiled and tested on every
// build.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
pub(crate) mod index_limit;
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
pub(crate) mod kernel_types;
#[cfg(feature = "cuda")]
pub(crate) mod launch;
pub(crate) mod launch_metadata;
pub(crate) mod memory_pools;
// The override's parser is compiled and tested on every build.
#[cfg_attr(not(feature = "cuda"), allow(dead_code))]
pub(crate) mod occupancy;
pub(crate) mod precision;
pub(crate) mod primitive;
pub(crate) mod row_update;
pub(crate) mod wide;
