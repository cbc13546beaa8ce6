//! The IDX format of the MNIST family (gzipped, as the files ship): a
//! big-endian header — two zero bytes, the element type (0x08 = unsigned
//! byte, the only one read here), the number of dimensions — then each
//! dimension as a big-endian u32, then the elements row-major.

use std::io::Read;
use std::path::Path;

use crate::error::{Error, Result};

/// Bytes a decompressed file may hold at most (the largest MNIST-family
/// file, 60,000 images of 28 × 28, holds 47 MB).
const MAX_BYTES: u64 = 256 << 20;

/// An array of unsigned bytes and its dimensions.
#[derive(Debug, Clone, PartialEq)]
pub struct IdxArray {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Row-major elements.
    pub data: Vec<u8>,
}

/// Reads the gzipped IDX file at `path`. Fails, naming the file and the
/// problem, on anything but a well-formed unsigned-byte array whose
/// elements fill exactly what its header says.
pub fn read_gz(path: &Path) -> Result<IdxArray> {
    let compressed = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse_gz(&compressed, path)
}

/// [`read_gz`] of bytes already read from `path` (named in errors).
pub fn parse_gz(compressed: &[u8], path: &Path) -> Result<IdxArray> {
    let bad = |message: String| Error::Format {
        path: path.to_path_buf(),
        message,
    };
    let mut bytes = Vec::new();
    flate2::read::GzDecoder::new(compressed)
        .take(MAX_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| bad(format!("not a gzipped IDX file: {e}")))?;
    if bytes.len() as u64 > MAX_BYTES {
        return Err(bad(format!("more than {MAX_BYTES} bytes decompressed")));
    }
    let header = bytes
        .get(..4)
        .ok_or_else(|| bad("shorter than the 4-byte IDX header".into()))?;
    if header[0] != 0 || header[1] != 0 {
        return Err(bad(format!(
            "IDX magic starts with {:#04x} {:#04x}, not two zero bytes",
            header[0], header[1]
        )));
    }
    if header[2] != 0x08 {
        return Err(bad(format!(
            "element type {:#04x}: only unsigned bytes (0x08) are read",
            header[2]
        )));
    }
    let rank = usize::from(header[3]);
    if rank == 0 {
        return Err(bad("an IDX array of rank 0".into()));
    }
    let dims_end = 4 + 4 * rank;
    let dims = bytes
        .get(4..dims_end)
        .ok_or_else(|| bad(format!("the header's {rank} dimensions are cut off")))?;
    let shape: Vec<usize> = dims
        .chunks_exact(4)
        .map(|d| u32::from_be_bytes([d[0], d[1], d[2], d[3]]) as usize)
        .collect();
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| bad(format!("dimensions {shape:?} overflow")))?;
    let data = &bytes[dims_end..];
    if data.len() != count {
        return Err(bad(format!(
            "{} data bytes for dimensions {shape:?}, which need {count}",
            data.len()
        )));
    }
    Ok(IdxArray {
        shape,
        data: data.to_vec(),
    })
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn gz(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(bytes).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn reads_an_array_and_names_every_malformation() {
        let path = Path::new("x-idx3-ubyte.gz");
        let good = [0, 0, 8, 2, 0, 0, 0, 2, 0, 0, 0, 3, 1, 2, 3, 4, 5, 6];
        let array = parse_gz(&gz(&good), path).unwrap();
        assert_eq!(array.shape, [2, 3]);
        assert_eq!(array.data, [1, 2, 3, 4, 5, 6]);
        let err = |bytes: &[u8]| parse_gz(&gz(bytes), path).unwrap_err().to_string();
        assert!(err(&good[..17]).contains("5 data bytes"));
        assert!(err(&[0, 0, 8]).contains("header"));
        assert!(err(&[1, 0, 8, 1, 0, 0, 0, 1, 7]).contains("magic"));
        assert!(err(&[0, 0, 0x0d, 1, 0, 0, 0, 1, 7]).contains("element type"));
        assert!(err(&[0, 0, 8, 2, 0, 0, 0, 1]).contains("cut off"));
        let e = parse_gz(b"not gzip", path).unwrap_err().to_string();
        assert!(
            e.contains("gzipped") && e.contains("x-idx3-ubyte.gz"),
            "{e}"
        );
    }
}
