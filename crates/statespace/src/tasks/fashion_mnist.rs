//! Sequential Fashion-MNIST: Zalando's 28 × 28 grey images of clothing in
//! ten classes (60,000 training and 10,000 test images), read pixel by
//! pixel in raster order as a sequence of 784 values in [0, 1], or in a
//! fixed random pixel order (`permuted`), as sequential MNIST is in the S4
//! papers.
//!
//! The four gzipped IDX files come from Debian's `dataset-fashion-mnist`
//! package through `scripts/setup-data.sh`, into
//! `$SSM_DATA_DIR/fashion-mnist/`; each is checked against its SHA-256
//! before use. Validation: `val_size` training images held out by a
//! seeded shuffle; test: the official 10,000.

use std::path::PathBuf;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Example, Split, Task};
use crate::error::{Error, Result};
use crate::io::idx::{IdxArray, parse_gz};
use crate::models::classifier::InputKind;

/// Side of an image.
const SIDE: usize = 28;
/// Pixels per image: the sequence length.
pub const PIXELS: usize = SIDE * SIDE;

/// The files and their SHA-256 (Debian `dataset-fashion-mnist`
/// 0.0~git20200523.55506a9-1).
pub const FILES: [(&str, &str); 4] = [
    (
        "train-images-idx3-ubyte.gz",
        "b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7",
    ),
    (
        "train-labels-idx1-ubyte.gz",
        "0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056",
    ),
    (
        "t10k-images-idx3-ubyte.gz",
        "cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa",
    ),
    (
        "t10k-labels-idx1-ubyte.gz",
        "8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05",
    ),
];

/// Sequential Fashion-MNIST settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FashionMnistConfig {
    /// Seed of the validation split and of the pixel permutation.
    pub seed: u64,
    /// Read the pixels in a fixed random order.
    pub permuted: bool,
    /// Training images held out for validation.
    pub val_size: usize,
    /// The folder of the four files (default:
    /// `$SSM_DATA_DIR/fashion-mnist`, `SSM_DATA_DIR` defaulting to `data`).
    pub dir: Option<PathBuf>,
}

impl Default for FashionMnistConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            permuted: false,
            val_size: 5000,
            dir: None,
        }
    }
}

/// Where the files are looked for.
pub fn default_dir() -> PathBuf {
    super::data_dir().join("fashion-mnist")
}

/// The images and labels of one of the two official sets.
struct Set {
    /// (images, 784) pixels.
    pixels: Vec<u8>,
    labels: Vec<u8>,
}

/// The sequential Fashion-MNIST task.
pub struct FashionMnist {
    config: FashionMnistConfig,
    train: Set,
    test: Set,
    /// Indices into the official training set of each of (train, val).
    held: [Vec<usize>; 2],
    /// Step order of the pixels.
    order: Vec<usize>,
}

/// Reads file `name` of `dir`, checked against its SHA-256, as an array.
fn read_checked(dir: &std::path::Path, name: &str, sha256: &str) -> Result<IdxArray> {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|e| {
        Error::config(
            "task.dir",
            format!(
                "{} is missing ({e}); run scripts/setup-data.sh to install Fashion-MNIST from Debian's dataset-fashion-mnist package",
                path.display()
            ),
        )
    })?;
    let digest = format!("{:x}", Sha256::digest(&bytes));
    if digest != sha256 {
        return Err(Error::config(
            "task.dir",
            format!(
                "{} has SHA-256 {digest}, not the package's {sha256}: the file is truncated or different; rerun scripts/setup-data.sh",
                path.display()
            ),
        ));
    }
    parse_gz(&bytes, &path)
}

/// Pairs an image array (n, 28, 28) with a label array (n) of classes
/// 0..=9, or says what does not fit.
fn pair(images: IdxArray, labels: IdxArray, what: &str) -> Result<Set> {
    let bad = |message: String| Error::config("task.dir", format!("{what}: {message}"));
    let n = labels.shape[0];
    if images.shape != [n, SIDE, SIDE] || labels.shape.len() != 1 {
        return Err(bad(format!(
            "images {:?} and labels {:?} are not (n, 28, 28) and (n)",
            images.shape, labels.shape
        )));
    }
    if let Some(l) = labels.data.iter().find(|&&l| l > 9) {
        return Err(bad(format!("label {l} outside the ten classes")));
    }
    Ok(Set {
        pixels: images.data,
        labels: labels.data,
    })
}

impl FashionMnist {
    /// Reads and checks the four files, and draws the validation split and
    /// the permutation.
    pub fn new(config: FashionMnistConfig) -> Result<Self> {
        let dir = config.dir.clone().unwrap_or_else(default_dir);
        let [train_x, train_y, test_x, test_y] =
            FILES.map(|(name, sha)| read_checked(&dir, name, sha));
        let train = pair(train_x?, train_y?, "the training set")?;
        let test = pair(test_x?, test_y?, "the test set")?;
        let n = train.labels.len();
        if config.val_size == 0 || config.val_size >= n {
            return Err(Error::config(
                "task.val_size",
                format!("must lie in 1..{n}, got {}", config.val_size),
            ));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(config.seed ^ 0xFA5_4104);
        let mut images: Vec<usize> = (0..n).collect();
        images.shuffle(&mut rng);
        let val = images[..config.val_size].to_vec();
        let fit = images[config.val_size..].to_vec();
        let mut order: Vec<usize> = (0..PIXELS).collect();
        if config.permuted {
            order.shuffle(&mut rng);
        }
        Ok(Self {
            config,
            train,
            test,
            held: [fit, val],
            order,
        })
    }

    /// The set and image index of example `index` of `split`.
    fn locate(&self, split: Split, index: usize) -> (&Set, usize) {
        match split {
            Split::Train => (&self.train, self.held[0][index]),
            Split::Val => (&self.train, self.held[1][index]),
            Split::Test => (&self.test, index),
        }
    }
}

impl Task for FashionMnist {
    fn name(&self) -> &str {
        if self.config.permuted {
            "permuted_fashion_mnist"
        } else {
            "fashion_mnist"
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
        match split {
            Split::Train => self.held[0].len(),
            Split::Val => self.held[1].len(),
            Split::Test => self.test.labels.len(),
        }
    }

    fn example(&self, split: Split, index: usize) -> Example {
        let (set, image) = self.locate(split, index);
        let pixels = &set.pixels[image * PIXELS..(image + 1) * PIXELS];
        Example::Values {
            values: self
                .order
                .iter()
                .map(|&p| f32::from(pixels[p]) / 255.0)
                .collect(),
            len: PIXELS,
            label: i64::from(set.labels[image]),
        }
    }
}
