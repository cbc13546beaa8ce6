//! Input checks of the op entry points. Each fails with an [`Error`] that
//! names the op and the argument (`"<op>: <arg>"`) and shows what was
//! expected beside what was given, so a bad call stops before any kernel
//! indexes by its shapes.

use std::fmt::Debug;

use burn::tensor::backend::Backend;
use burn::tensor::{BasicOps, DType, Tensor};

use crate::error::{Error, Result};

/// How an error names argument `arg` of `op`.
fn label(op: &str, arg: &str) -> String {
    format!("{op}: {arg}")
}

/// `arg` of `op` has the shape `expected`.
pub(crate) fn shape(op: &str, arg: &str, expected: &[usize], actual: &[usize]) -> Result<()> {
    if actual == expected {
        Ok(())
    } else {
        Err(Error::shape(label(op, arg), expected, actual))
    }
}

/// Axis `axis` of `arg` (shape `actual`) has at least `min` entries; the
/// error shows the smallest shape accepted, that axis of length `min`.
pub(crate) fn min_axis(
    op: &str,
    arg: &str,
    actual: &[usize],
    axis: usize,
    min: usize,
) -> Result<()> {
    if actual[axis] >= min {
        return Ok(());
    }
    let mut expected = actual.to_vec();
    expected[axis] = min;
    Err(Error::shape(label(op, arg), &expected, actual))
}

/// `arg` (shape `actual`) has exactly `rank` axes; the error shows the
/// shape cut or padded with axes of length 1 to that rank.
pub(crate) fn rank(op: &str, arg: &str, rank: usize, actual: &[usize]) -> Result<()> {
    if actual.len() == rank {
        return Ok(());
    }
    let expected: Vec<usize> = (0..rank)
        .map(|i| actual.get(i).copied().unwrap_or(1))
        .collect();
    Err(Error::shape(label(op, arg), &expected, actual))
}

/// `arg` (shape `actual`) has at least `rank` axes; the error shows the
/// shape with the missing leading axes of length 1.
pub(crate) fn min_rank(op: &str, arg: &str, rank: usize, actual: &[usize]) -> Result<()> {
    if actual.len() >= rank {
        return Ok(());
    }
    let mut expected = vec![1; rank - actual.len()];
    expected.extend_from_slice(actual);
    Err(Error::shape(label(op, arg), &expected, actual))
}

/// `arg` of `op` is stored as a float type (f64, f32, f16, bf16; not
/// quantized).
pub(crate) fn float_dtype(op: &str, arg: &str, dtype: DType) -> Result<()> {
    if dtype.is_float() {
        Ok(())
    } else {
        Err(Error::Dtype {
            name: arg.into(),
            source_name: format!("{op} (a float type: f64, f32, f16 or bf16)"),
            dtype: format!("{dtype:?}"),
        })
    }
}

/// Every `(argument, dtype)` of `op` has the first one's dtype.
pub(crate) fn same_dtype(op: &str, dtypes: &[(&str, DType)]) -> Result<()> {
    let Some(&(first, dtype)) = dtypes.first() else {
        return Ok(());
    };
    match dtypes.iter().find(|(_, d)| *d != dtype) {
        None => Ok(()),
        Some(&(arg, other)) => Err(Error::Dtype {
            name: arg.into(),
            source_name: format!("{op} (every input as `{first}`, {dtype:?})"),
            dtype: format!("{other:?}"),
        }),
    }
}

/// Every `(argument, device)` of `op` is on the first one's device.
pub(crate) fn same_device<D: PartialEq + Debug>(op: &str, devices: &[(&str, D)]) -> Result<()> {
    let Some((first, device)) = devices.first() else {
        return Ok(());
    };
    match devices.iter().find(|(_, d)| d != device) {
        None => Ok(()),
        Some((arg, other)) => Err(Error::Device {
            tensor: label(op, arg),
            message: format!(
                "on device {other:?}, but `{first}` is on {device:?} (every input must be on one device)"
            ),
        }),
    }
}

/// What the dtype and device checks read off a tensor argument.
pub(crate) struct Arg<'a, D> {
    name: &'a str,
    dtype: DType,
    device: D,
}

/// Argument `name`'s dtype and device.
pub(crate) fn arg<'a, B: Backend, const R: usize, K: BasicOps<B>>(
    name: &'a str,
    t: &Tensor<B, R, K>,
) -> Arg<'a, B::Device> {
    Arg {
        name,
        dtype: t.dtype(),
        device: t.device(),
    }
}

/// The arguments of `op` are all stored as one float type (the first's)
/// and all on the first one's device.
pub(crate) fn floats_on_one_device<D: PartialEq + Debug>(
    op: &str,
    args: &[Arg<'_, D>],
) -> Result<()> {
    if let Some(first) = args.first() {
        float_dtype(op, first.name, first.dtype)?;
    }
    let dtypes: Vec<_> = args.iter().map(|a| (a.name, a.dtype)).collect();
    same_dtype(op, &dtypes)?;
    let devices: Vec<_> = args.iter().map(|a| (a.name, &a.device)).collect();
    same_device(op, &devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each check passes what it should and names the op and the argument
    /// of what it refuses.
    #[test]
    fn checks_name_the_op_and_the_argument() {
        assert!(shape("op", "x", &[2, 3], &[2, 3]).is_ok());
        let err = shape("op", "x (B, L)", &[2, 3], &[2, 4]).unwrap_err();
        assert_eq!(
            err.to_string(),
            "tensor `op: x (B, L)`: expected shape [2, 3], got [2, 4]"
        );
        let err = min_axis("op", "w", &[4, 0], 1, 1).unwrap_err();
        assert!(
            err.to_string()
                .contains("expected shape [4, 1], got [4, 0]")
        );
        let err = min_rank("op", "a", 2, &[5]).unwrap_err();
        assert!(err.to_string().contains("expected shape [1, 5], got [5]"));
        assert!(float_dtype("op", "x", DType::BF16).is_ok());
        assert!(
            float_dtype("op", "x", DType::I64)
                .unwrap_err()
                .to_string()
                .contains("`x` in op")
        );
        let dtypes = [("x", DType::F32), ("bias", DType::F64)];
        let err = same_dtype("op", &dtypes).unwrap_err().to_string();
        assert!(
            err.contains("`bias`") && err.contains("F64") && err.contains("`x`"),
            "{err}"
        );
        let err = same_device("op", &[("x", 0), ("state", 1)])
            .unwrap_err()
            .to_string();
        assert!(err.contains("op: state") && err.contains('1'), "{err}");
        assert!(same_device("op", &[("x", 0), ("state", 0)]).is_ok());
    }
}
