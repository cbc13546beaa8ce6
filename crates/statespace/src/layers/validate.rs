//! Field checks the mixers' configs share, each failing with an error that
//! names the key.

use crate::error::{Error, Result};

/// (d_inner, heads) = (expand · d_model, d_inner / headdim) in checked
/// arithmetic: an error naming `expand` when the product overflows.
pub(crate) fn inner_and_heads(
    expand: usize,
    d_model: usize,
    headdim: usize,
) -> Result<(usize, usize)> {
    let inner = expand
        .checked_mul(d_model)
        .ok_or_else(|| crate::size::overflow("expand"))?;
    Ok((inner, inner / headdim.max(1)))
}

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

/// Fails unless ε of a norm is finite and positive.
pub(crate) fn norm_eps(eps: f64) -> Result<()> {
    if !(eps.is_finite() && eps > 0.0) {
        return Err(Error::config(
            "norm_eps",
            format!("must be finite and positive, got {eps}"),
        ));
    }
    Ok(())
}

/// Fails unless `headdim` divides `d_inner` and `ngroups` divides the
/// number of heads d_inner / headdim (both at least 1).
pub(crate) fn heads_and_groups(d_inner: usize, headdim: usize, ngroups: usize) -> Result<()> {
    if !d_inner.is_multiple_of(headdim) {
        return Err(Error::config(
            "headdim",
            format!("must divide d_inner = {d_inner} (expand · d_model)"),
        ));
    }
    let heads = d_inner / headdim;
    if !heads.is_multiple_of(ngroups) {
        return Err(Error::config(
            "ngroups",
            format!("must divide the number of heads ({heads})"),
        ));
    }
    Ok(())
}

/// Fails unless the bounds on Δ are ordered numbers (min ≤ max).
pub(crate) fn dt_limit((lo, hi): (f64, f64)) -> Result<()> {
    if lo.is_nan() || hi.is_nan() || lo > hi {
        return Err(Error::config(
            "dt_limit",
            format!("need min ≤ max, got ({lo}, {hi})"),
        ));
    }
    Ok(())
}
