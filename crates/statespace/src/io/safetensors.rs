//! Reading tensors from `.safetensors` files into host memory.
//!
//! One reader serves golden reference files, checkpoints and Hugging Face
//! weights. The file is memory-mapped; a tensor is converted to the requested
//! element type only when asked for.

use std::fs::File;
use std::path::{Path, PathBuf};

use safetensors::{Dtype, SafeTensors};

use crate::error::{Error, Result};

/// A tensor copied to host memory: row-major data and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct HostTensor<T> {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Row-major elements; `data.len()` is the product of `shape`.
    pub data: Vec<T>,
}

impl<T> HostTensor<T> {
    /// Wraps `data` with `shape`, checking that the sizes agree.
    pub fn new(name: &str, shape: Vec<usize>, data: Vec<T>) -> Result<Self> {
        let numel: usize = shape.iter().product();
        if numel != data.len() {
            return Err(Error::shape(name, &shape, &[data.len()]));
        }
        Ok(Self { shape, data })
    }

    /// Number of elements.
    pub fn numel(&self) -> usize {
        self.data.len()
    }
}

/// A memory-mapped `.safetensors` file.
pub struct SafetensorsFile {
    path: PathBuf,
    map: memmap2::Mmap,
}

impl SafetensorsFile {
    /// Opens and validates the header of the file at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        let file = File::open(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        // SAFETY: the map is read-only and lives as long as `self`; a file
        // truncated underneath us by another process is outside our contract.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let this = Self { path, map };
        this.parse()?;
        Ok(this)
    }

    fn parse(&self) -> Result<SafeTensors<'_>> {
        SafeTensors::deserialize(&self.map).map_err(|e| Error::Format {
            path: self.path.clone(),
            message: format!("not a valid safetensors file: {e}"),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Names of all tensors in the file, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .parse()
            .map(|st| st.names().into_iter().map(str::to_string).collect())
            .unwrap_or_default();
        names.sort();
        names
    }

    /// Whether a tensor called `name` exists.
    pub fn contains(&self, name: &str) -> bool {
        self.parse()
            .map(|st| st.tensor(name).is_ok())
            .unwrap_or(false)
    }

    /// The shape of tensor `name`.
    pub fn shape(&self, name: &str) -> Result<Vec<usize>> {
        let st = self.parse()?;
        let view = st.tensor(name).map_err(|_| self.missing(name))?;
        Ok(view.shape().to_vec())
    }

    /// The stored element type of tensor `name`.
    pub fn dtype(&self, name: &str) -> Result<Dtype> {
        let st = self.parse()?;
        let view = st.tensor(name).map_err(|_| self.missing(name))?;
        Ok(view.dtype())
    }

    /// The string metadata of the header (`__metadata__`), if any.
    pub fn metadata(&self) -> Vec<(String, String)> {
        match SafeTensors::read_metadata(&self.map) {
            Ok((_, meta)) => meta
                .metadata()
                .as_ref()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
            Err(_) => Vec::new(),
        }
    }

    fn missing(&self, name: &str) -> Error {
        Error::MissingTensor {
            name: name.to_string(),
            source_name: self.path.display().to_string(),
        }
    }

    fn bad_dtype(&self, name: &str, dtype: Dtype) -> Error {
        Error::Dtype {
            name: name.to_string(),
            source_name: self.path.display().to_string(),
            dtype: format!("{dtype:?}"),
        }
    }

    /// Tensor `name` as f64, converting from any float dtype (f64, f32, bf16, f16).
    pub fn f64(&self, name: &str) -> Result<HostTensor<f64>> {
        self.float(name, |x| x)
    }

    /// Tensor `name` as f32, converting from any float dtype (f64 is rounded).
    pub fn f32(&self, name: &str) -> Result<HostTensor<f32>> {
        self.float(name, |x| x as f32)
    }

    fn float<T>(&self, name: &str, cast: impl Fn(f64) -> T) -> Result<HostTensor<T>> {
        let st = self.parse()?;
        let view = st.tensor(name).map_err(|_| self.missing(name))?;
        let bytes = view.data();
        let data: Vec<T> = match view.dtype() {
            Dtype::F64 => bytes
                .chunks_exact(8)
                .map(|c| cast(f64::from_le_bytes(c.try_into().unwrap())))
                .collect(),
            Dtype::F32 => bytes
                .chunks_exact(4)
                .map(|c| cast(f32::from_le_bytes(c.try_into().unwrap()) as f64))
                .collect(),
            Dtype::BF16 => bytes
                .chunks_exact(2)
                .map(|c| cast(bf16_bits_to_f32(u16::from_le_bytes([c[0], c[1]])) as f64))
                .collect(),
            Dtype::F16 => bytes
                .chunks_exact(2)
                .map(|c| cast(f16_bits_to_f32(u16::from_le_bytes([c[0], c[1]])) as f64))
                .collect(),
            other => return Err(self.bad_dtype(name, other)),
        };
        HostTensor::new(name, view.shape().to_vec(), data)
    }

    /// Tensor `name` as i64, converting from any integer dtype.
    pub fn i64(&self, name: &str) -> Result<HostTensor<i64>> {
        let st = self.parse()?;
        let view = st.tensor(name).map_err(|_| self.missing(name))?;
        let bytes = view.data();
        let data: Vec<i64> = match view.dtype() {
            Dtype::I64 => bytes
                .chunks_exact(8)
                .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
                .collect(),
            Dtype::I32 => bytes
                .chunks_exact(4)
                .map(|c| i32::from_le_bytes(c.try_into().unwrap()) as i64)
                .collect(),
            Dtype::U8 => bytes.iter().map(|&b| b as i64).collect(),
            other => return Err(self.bad_dtype(name, other)),
        };
        HostTensor::new(name, view.shape().to_vec(), data)
    }
}

/// bfloat16 bits to f32 (exact).
fn bf16_bits_to_f32(bits: u16) -> f32 {
    f32::from_bits((bits as u32) << 16)
}

/// IEEE half-precision bits to f32 (exact, including subnormals, inf and NaN).
pub(crate) fn f16_bits_to_f32(bits: u16) -> f32 {
    let sign = ((bits >> 15) as u32) << 31;
    let exp = ((bits >> 10) & 0x1f) as u32;
    let mant = (bits & 0x3ff) as u32;
    let out = match (exp, mant) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: value = m * 2^-24.
            let v = m as f32 * f32::powi(2.0, -24);
            return if sign != 0 { -v } else { v };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 127 - 15) << 23) | (m << 13),
    };
    f32::from_bits(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_conversions_are_exact() {
        assert_eq!(f16_bits_to_f32(0x3c00), 1.0);
        assert_eq!(f16_bits_to_f32(0xc000), -2.0);
        assert_eq!(f16_bits_to_f32(0x7bff), 65504.0);
        assert_eq!(f16_bits_to_f32(0x0001), 2f32.powi(-24));
        assert!(f16_bits_to_f32(0x7c00).is_infinite());
        assert!(f16_bits_to_f32(0x7e00).is_nan());
        assert_eq!(bf16_bits_to_f32(0x3f80), 1.0);
        assert_eq!(bf16_bits_to_f32(0xc049), -3.140625);
    }
}
