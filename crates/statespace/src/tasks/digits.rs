//! Sequential digits: the 8×8 handwritten digits that ship inside the
//! scikit-learn package (1797 images, UCI optdigits test set), read pixel
//! by pixel as a sequence of 64 grey values, optionally in a fixed random
//! pixel order (the permuted variant, as in psMNIST).
//!
//! The file comes from the package through `scripts/setup-data.sh`, which
//! extracts `sklearn/datasets/data/digits.csv.gz` into `data/`; it is
//! checked against a SHA-256 before use.

use std::io::Read;
use std::path::PathBuf;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Example, Split, Task};
use crate::error::{Error, Result};
use crate::models::classifier::InputKind;

/// SHA-256 of scikit-learn's `digits.csv.gz`.
pub const DIGITS_SHA256: &str = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22";
/// Pixels per image.
pub const PIXELS: usize = 64;
/// Test images (20 %).
const TEST: usize = 360;
/// Validation images (10 %).
const VAL: usize = 180;

/// Sequential digits settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct DigitsConfig {
    /// Seed of the split and of the pixel permutation.
    pub seed: u64,
    /// Read the pixels in a fixed random order.
    pub permuted: bool,
    /// The file (default: `$SSM_DATA_DIR/digits.csv.gz`, `SSM_DATA_DIR`
    /// defaulting to `data`).
    pub path: Option<PathBuf>,
}

/// The sequential digits task.
pub struct Digits {
    config: DigitsConfig,
    /// Pixels scaled to [0, 1], one row of 64 per image.
    pixels: Vec<[f32; PIXELS]>,
    labels: Vec<i64>,
    /// Image indices of each split.
    splits: [Vec<usize>; 3],
    /// Step order of the pixels.
    order: Vec<usize>,
}

/// Where the digits file is looked for.
pub fn default_path() -> PathBuf {
    super::data_dir().join("digits.csv.gz")
}

impl Digits {
    /// Reads and checks the file, and draws the split and the permutation.
    pub fn new(config: DigitsConfig) -> Result<Self> {
        let path = config.path.clone().unwrap_or_else(default_path);
        let bytes = std::fs::read(&path).map_err(|e| {
            Error::config(
                "task.path",
                format!(
                    "the digits data is not at {} ({e}); run scripts/setup-data.sh to extract it from the scikit-learn package",
                    path.display()
                ),
            )
        })?;
        let digest = format!("{:x}", Sha256::digest(&bytes));
        if digest != DIGITS_SHA256 {
            return Err(Error::config(
                "task.path",
                format!(
                    "{} has SHA-256 {digest}, not scikit-learn's {DIGITS_SHA256}: the file is truncated or different; rerun scripts/setup-data.sh",
                    path.display()
                ),
            ));
        }
        let (pixels, labels) = parse_gz(&bytes, &path)?;
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0x00D1_6175);
        let mut images: Vec<usize> = (0..pixels.len()).collect();
        images.shuffle(&mut rng);
        let test = images[..TEST].to_vec();
        let val = images[TEST..TEST + VAL].to_vec();
        let train = images[TEST + VAL..].to_vec();
        let mut order: Vec<usize> = (0..PIXELS).collect();
        if config.permuted {
            order.shuffle(&mut rng);
        }
        Ok(Self {
            config,
            pixels,
            labels,
            splits: [train, val, test],
            order,
        })
    }

    fn split(&self, split: Split) -> &[usize] {
        &self.splits[match split {
            Split::Train => 0,
            Split::Val => 1,
            Split::Test => 2,
        }]
    }
}

/// The images of a gzipped digits CSV (`bytes`, read from `path`): rows of
/// 64 pixel values in 0..=16 and an integer label in 0..=9, scaled to
/// [0, 1]. Every malformed row is an error naming the line; fewer images
/// than the three splits need is an error too. The decompressed text is
/// bounded (the real file is 0.3 MB).
pub fn parse_gz(bytes: &[u8], path: &std::path::Path) -> Result<(Vec<[f32; PIXELS]>, Vec<i64>)> {
    const MAX_TEXT: u64 = 16 << 20;
    let bad =
        |message: String| Error::config("task.path", format!("{}: {message}", path.display()));
    let mut text = String::new();
    flate2::read::GzDecoder::new(bytes)
        .take(MAX_TEXT + 1)
        .read_to_string(&mut text)
        .map_err(|e| bad(e.to_string()))?;
    if text.len() as u64 > MAX_TEXT {
        return Err(bad(format!(
            "more than {MAX_TEXT} bytes of text: not the digits file"
        )));
    }
    let (mut pixels, mut labels) = (Vec::new(), Vec::new());
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let line_no = n + 1;
        let values: Vec<f32> = line
            .split(',')
            .map(|v| v.trim().parse::<f32>())
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| bad(format!("line {line_no}: {e}")))?;
        if values.len() != PIXELS + 1 {
            return Err(bad(format!(
                "line {line_no}: {} fields, expected {}",
                values.len(),
                PIXELS + 1
            )));
        }
        let mut row = [0f32; PIXELS];
        for (r, &v) in row.iter_mut().zip(&values) {
            if !(0.0..=16.0).contains(&v) {
                return Err(bad(format!("line {line_no}: pixel {v} outside 0..=16")));
            }
            *r = v / 16.0;
        }
        let label = values[PIXELS];
        if !(label.fract() == 0.0 && (0.0..=9.0).contains(&label)) {
            return Err(bad(format!("line {line_no}: label {label} is not a digit")));
        }
        pixels.push(row);
        labels.push(label as i64);
    }
    if pixels.len() <= TEST + VAL {
        return Err(bad(format!(
            "{} images, fewer than the {} the splits need",
            pixels.len(),
            TEST + VAL + 1
        )));
    }
    Ok((pixels, labels))
}

impl Task for Digits {
    fn name(&self) -> &str {
        if self.config.permuted {
            "permuted_digits"
        } else {
            "digits"
        }
    }

    fn input(&self) -> InputKind {
        InputKind::Values { channels: 1 }
    }

    fn classes(&self) -> usize {
        10
    }

    fn max_len(&self) -> usize {
        PIXELS
    }

    fn size(&self, split: Split) -> usize {
        self.split(split).len()
    }

    fn example(&self, split: Split, index: usize) -> Example {
        let image = self.split(split)[index];
        Example::Values {
            values: self.order.iter().map(|&p| self.pixels[image][p]).collect(),
            len: PIXELS,
            label: self.labels[image],
        }
    }
}
