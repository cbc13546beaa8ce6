//! Field checks the mixers' configs share, each failing with an error that
//! names the key.

use crate::error::{Error, Result};

/// Fails on the first of `fields` (key, value) that is 0.
pub(crate) fn at_least_one(fields: &[(&str, usize)]) -> Result<()> {
    match fields.iter().find(|(_, value)| *value == 0) {
        Some((key, _)) => Err(Error::config(*key, "must be at least 1")),
        None => Ok(()),
    }
}

/// Fails unless the causal convolution is at least 2 taps wide.
pub(crate) fn conv_width(d_conv: usize) -> Result<()> {
    if d_conv < 2 {
        return Err(Error::config(
            "d_conv",
            format!("must be at least 2, got {d_conv}"),
        ));
    }
    Ok(())
}

/// Fails unless 0 < `dt_min` ≤ `dt_max` < ∞ (the range Δ is initialised in).
pub(crate) fn dt_range(dt_min: f64, dt_max: f64) -> Result<()> {
    if !(dt_min > 0.0 && dt_max >= dt_min && dt_max.is_finite()) {
        return Err(Error::config("dt_min/dt_max", "need 0 < dt_min ≤ dt_max"));
    }
    Ok(())
}
