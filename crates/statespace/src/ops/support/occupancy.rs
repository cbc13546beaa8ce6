//! Occupancy hints of the CUDA kernels, and their override from the
//! environment for A/B runs without a rebuild.
//!
//! A hint asks NVRTC to compile the kernels whose entry point starts with a
//! prefix for at least `warps` resident warps per streaming multiprocessor
//! (`__launch_bounds__`, through the vendored cubecl-cuda's
//! `set_min_warps_per_sm`), which caps their registers. The ops set their
//! measured hints with [`hint`]. `SSM_MIN_WARPS_PER_SM` overrides or adds
//! hints: a comma-separated list of `prefix=warps` entries, e.g.
//! `scan_chunked_f=24,scan_chunked_backward=16`; 0 removes a prefix's hint
//! (an op's own hint included: [`hint`] defers to the environment).
//! Where prefixes overlap, the longest that matches a kernel wins. Hints
//! apply to kernels compiled after they are set, so the override is read
//! before the first kernel: `ssm` calls [`apply_occupancy_overrides`] when it
//! starts on CUDA; a library user calls it the same way.

use crate::error::{Error, Result};

/// The environment variable of the overrides.
pub const OCCUPANCY_ENV: &str = "SSM_MIN_WARPS_PER_SM";

/// The most warps a streaming multiprocessor holds on the GPUs CubeCL
/// targets (64 on Hopper and Ampere; a hint above it cannot be met).
const MAX_WARPS_PER_SM: u32 = 64;

/// One entry of the override: kernels whose entry point starts with
/// `prefix` get at least `warps` resident warps per SM (0: no hint).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OccupancyOverride {
    pub prefix: String,
    pub warps: u32,
}

/// Parses the override's value: `prefix=warps` entries separated by
/// commas (blank entries skipped). An entry without `=`, with an empty or
/// non-identifier prefix, a count that is not a whole number, a count
/// above 64, or a prefix given twice is an error naming the entry.
pub fn parse_occupancy_overrides(text: &str) -> Result<Vec<OccupancyOverride>> {
    let bad = |entry: &str, why: &str| Error::Config {
        key: OCCUPANCY_ENV.into(),
        message: format!("entry `{entry}`: {why} (expected prefix=warps, e.g. scan_chunked_f=24)"),
    };
    let mut out: Vec<OccupancyOverride> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (prefix, warps) = entry.split_once('=').ok_or_else(|| bad(entry, "no `=`"))?;
        let prefix = prefix.trim();
        if prefix.is_empty()
            || !prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        {
            return Err(bad(entry, "the prefix must be letters, digits and `_`"));
        }
        let warps: u32 = warps
            .trim()
            .parse()
            .map_err(|_| bad(entry, "the warp count is not a whole number"))?;
        if warps > MAX_WARPS_PER_SM {
            return Err(bad(
                entry,
                &format!("at most {MAX_WARPS_PER_SM} warps fit on a multiprocessor"),
            ));
        }
        if out.iter().any(|o| o.prefix == prefix) {
            return Err(bad(entry, "this prefix is given twice"));
        }
        out.push(OccupancyOverride {
            prefix: prefix.to_string(),
            warps,
        });
    }
    Ok(out)
}

/// The overrides `SSM_MIN_WARPS_PER_SM` names (none when it is unset).
#[cfg(feature = "cuda")]
fn from_env() -> Result<Vec<OccupancyOverride>> {
    Ok(
        super::env_setting::env_setting(OCCUPANCY_ENV, parse_occupancy_overrides)?
            .unwrap_or_default(),
    )
}

/// Reads `SSM_MIN_WARPS_PER_SM` and sets its hints, to be called before
/// the first kernel compiles; returns the hints set (none when the
/// variable is unset). A malformed value is an error naming the entry.
#[cfg(feature = "cuda")]
pub fn apply_occupancy_overrides() -> Result<Vec<OccupancyOverride>> {
    let overrides = from_env()?;
    for o in &overrides {
        cubecl::cuda::set_min_warps_per_sm(&o.prefix, o.warps);
    }
    Ok(overrides)
}

/// Sets an op's measured hint for `prefix`, or the environment's value
/// where it names the same prefix (a malformed environment, which
/// [`apply_occupancy_overrides`] reports, leaves the measured hint).
#[cfg(feature = "cuda")]
pub(crate) fn hint(prefix: &str, warps: u32) {
    let warps = from_env()
        .ok()
        .and_then(|list| list.into_iter().find(|o| o.prefix == prefix))
        .map_or(warps, |o| o.warps);
    cubecl::cuda::set_min_warps_per_sm(prefix, warps);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(prefix: &str, warps: u32) -> OccupancyOverride {
        OccupancyOverride {
            prefix: prefix.into(),
            warps,
        }
    }

    #[test]
    fn entries_parse_with_blanks_and_spaces() {
        assert_eq!(parse_occupancy_overrides("").unwrap(), vec![]);
        assert_eq!(
            parse_occupancy_overrides(" scan_chunked_f=24, ,ssd_chunk_backward = 0 ").unwrap(),
            vec![entry("scan_chunked_f", 24), entry("ssd_chunk_backward", 0)]
        );
    }

    #[test]
    fn bad_entries_are_named() {
        for (text, why) in [
            ("scan_chunked_f", "no `=`"),
            ("=16", "the prefix"),
            ("scan-chunked=16", "the prefix"),
            ("scan_chunked_f=many", "whole number"),
            ("scan_chunked_f=-1", "whole number"),
            ("scan_chunked_f=65", "at most 64"),
            ("a=8,a=16", "twice"),
        ] {
            let err = parse_occupancy_overrides(text).unwrap_err().to_string();
            assert!(err.contains(OCCUPANCY_ENV), "{err}");
            assert!(err.contains(why), "{text}: {err}");
        }
    }
}
