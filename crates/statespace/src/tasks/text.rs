//! Language modelling on a text corpus: the file's bytes as tokens
//! (byte-level, vocabulary 256) or the ids of a Hugging Face
//! `tokenizer.json`, split into train, validation and test spans by
//! position (the last `val_fraction` and `test_fraction` of the text,
//! cut at character boundaries, each span tokenized on its own).
//!
//! Training draws windows of `seq_len + 1` tokens at random starts of the
//! train span (packed text: windows cross line and document boundaries);
//! a window's first `seq_len` tokens are the input, its last `seq_len`
//! the targets. Evaluation reads a span in consecutive windows, each token
//! predicted once, up to `max_eval_tokens` targets. Scores are nats per
//! token and bits per byte (total bits over the span's UTF-8 bytes).
//!
//! The default corpus is Debian's `fortunes` package (BSD), installed into
//! `$SSM_DATA_DIR/fortunes.txt` by `scripts/setup-data.sh`.

use std::ops::Range;
use std::path::PathBuf;

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{Split, example_rng};
use crate::error::{Error, Result};
use crate::text::Codec;

/// Language-modelling settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TextConfig {
    /// The corpus (default: `$SSM_DATA_DIR/fortunes.txt`, `SSM_DATA_DIR`
    /// defaulting to `data`).
    pub path: Option<PathBuf>,
    /// A Hugging Face `tokenizer.json` (absent: bytes are tokens).
    pub tokenizer: Option<PathBuf>,
    /// Tokens a training window feeds the model.
    pub seq_len: usize,
    /// Share of the text, before the test span, held out for validation.
    pub val_fraction: f64,
    /// Share of the text, at its end, held out for testing.
    pub test_fraction: f64,
    /// Targets an evaluation of a split reads at most (from its start).
    pub max_eval_tokens: usize,
}

impl Default for TextConfig {
    fn default() -> Self {
        Self {
            path: None,
            tokenizer: None,
            seq_len: 256,
            val_fraction: 0.05,
            test_fraction: 0.05,
            max_eval_tokens: 65_536,
        }
    }
}

/// `$SSM_DATA_DIR/fortunes.txt` (`SSM_DATA_DIR` defaulting to `data`).
pub fn default_path() -> PathBuf {
    super::data_dir().join("fortunes.txt")
}

/// One split's tokens and the UTF-8 bytes they encode.
#[derive(Debug, Clone)]
struct Span {
    tokens: Vec<u32>,
    bytes: usize,
}

/// A corpus, tokenized and split.
#[derive(Debug, Clone)]
pub struct TextData {
    spans: [Span; 3],
    vocab: usize,
    seq_len: usize,
    max_eval_tokens: usize,
}

/// The input and target tokens of windows, (windows, seq_len) row-major
/// each.
#[derive(Debug, Clone, PartialEq)]
pub struct Windows {
    /// Input tokens.
    pub inputs: Vec<i64>,
    /// Target tokens: the inputs shifted by one.
    pub targets: Vec<i64>,
    /// Number of windows.
    pub count: usize,
}

impl Windows {
    /// Positions `part` of every window (a part of each sequence, for
    /// sequence parallelism); fails unless `part` is a non-empty range
    /// within the windows' length.
    pub fn positions(&self, part: Range<usize>) -> Result<Windows> {
        let len = self.inputs.len() / self.count.max(1);
        if part.is_empty() || part.end > len {
            return Err(Error::config(
                "positions",
                format!("{part:?} is not a non-empty part of windows of {len} positions"),
            ));
        }
        let cut = |rows: &[i64]| -> Vec<i64> {
            rows.chunks(len)
                .flat_map(|row| row[part.clone()].iter().copied())
                .collect()
        };
        Ok(Windows {
            inputs: cut(&self.inputs),
            targets: cut(&self.targets),
            count: self.count,
        })
    }
}

impl TextConfig {
    /// Checks the fields, naming the first out of its domain.
    pub fn validate(&self) -> Result<()> {
        if self.seq_len == 0 {
            return Err(Error::config("task.seq_len", "must be at least 1"));
        }
        for (key, v) in [
            ("task.val_fraction", self.val_fraction),
            ("task.test_fraction", self.test_fraction),
        ] {
            if !(v > 0.0 && v < 0.5) {
                return Err(Error::config(key, format!("must lie in (0, 0.5), got {v}")));
            }
        }
        if self.max_eval_tokens == 0 {
            return Err(Error::config("task.max_eval_tokens", "must be at least 1"));
        }
        Ok(())
    }

    /// The vocabulary size: 256 for bytes, the tokenizer's (with its added
    /// tokens) otherwise.
    pub fn vocab_size(&self) -> Result<usize> {
        Ok(vocab_of(&self.codec()?))
    }

    fn codec(&self) -> Result<Codec> {
        let Some(path) = &self.tokenizer else {
            return Ok(Codec::Bytes);
        };
        let bytes = std::fs::read(path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        Codec::from_tokenizer_json(&bytes).map_err(|e| match e {
            Error::Format { message, .. } => Error::Format {
                path: path.clone(),
                message,
            },
            other => other,
        })
    }

    /// Reads, splits and tokenizes the corpus. Fails naming the file when
    /// it is missing, empty, not UTF-8 while a tokenizer reads it, or too
    /// short for a training window and one evaluation window per split.
    pub fn load(&self) -> Result<TextData> {
        self.validate()?;
        let path = self.path.clone().unwrap_or_else(default_path);
        let bytes = std::fs::read(&path).map_err(|source| Error::Io {
            path: path.clone(),
            source,
        })?;
        let bad = |message: String| Error::Format {
            path: path.clone(),
            message,
        };
        if bytes.is_empty() {
            return Err(bad("the text is empty".into()));
        }
        let codec = self.codec()?;
        let text = match (&codec, std::str::from_utf8(&bytes)) {
            (_, Ok(text)) => Some(text),
            (Codec::Bytes, Err(_)) => None,
            (Codec::Tokenizer(_), Err(e)) => {
                return Err(bad(format!(
                    "not UTF-8 (at byte {}), which the tokenizer needs",
                    e.valid_up_to()
                )));
            }
        };
        let n = bytes.len();
        let test_start = cut(&bytes, text, n - (n as f64 * self.test_fraction) as usize);
        let val_start = cut(
            &bytes,
            text,
            test_start.saturating_sub((n as f64 * self.val_fraction) as usize),
        );
        let ranges = [0..val_start, val_start..test_start, test_start..n];
        let spans = ranges.map(|r| {
            let piece = &bytes[r.clone()];
            let tokens = match (&codec, text) {
                (Codec::Bytes, _) => Ok(piece.iter().map(|&b| u32::from(b)).collect()),
                (Codec::Tokenizer(_), Some(text)) => codec
                    .encode(&text[r.clone()])
                    .map(|ids| ids.into_iter().map(|i| i as u32).collect()),
                (Codec::Tokenizer(_), None) => unreachable!("checked to be UTF-8 above"),
            };
            tokens.map(|tokens| Span {
                tokens,
                bytes: r.len(),
            })
        });
        let [train, val, test] = spans;
        let spans = [train?, val?, test?];
        let need = [self.seq_len + 2, 2, 2];
        for ((span, need), name) in spans.iter().zip(need).zip(["train", "val", "test"]) {
            if span.tokens.len() < need {
                return Err(bad(format!(
                    "the {name} span holds {} tokens, fewer than the {need} it needs (task.seq_len = {}): use a longer text",
                    span.tokens.len(),
                    self.seq_len
                )));
            }
        }
        Ok(TextData {
            spans,
            vocab: vocab_of(&codec),
            seq_len: self.seq_len,
            max_eval_tokens: self.max_eval_tokens,
        })
    }
}

/// The vocabulary of `codec`: 256 byte values, or the tokenizer's size with
/// its added tokens.
fn vocab_of(codec: &Codec) -> usize {
    match codec {
        Codec::Bytes => 256,
        Codec::Tokenizer(t) => t.get_vocab_size(true),
    }
}

/// `at` moved back to a character boundary of `text` (bytes as they are
/// when the file is not UTF-8).
fn cut(bytes: &[u8], text: Option<&str>, at: usize) -> usize {
    let mut at = at.min(bytes.len());
    if let Some(text) = text {
        while !text.is_char_boundary(at) {
            at -= 1;
        }
    }
    at
}

impl TextData {
    fn span(&self, split: Split) -> &Span {
        &self.spans[match split {
            Split::Train => 0,
            Split::Val => 1,
            Split::Test => 2,
        }]
    }

    /// The vocabulary size.
    pub fn vocab(&self) -> usize {
        self.vocab
    }

    /// Positions (targets) per training window.
    pub fn seq_len(&self) -> usize {
        self.seq_len
    }

    /// Tokens in `split`.
    pub fn tokens(&self, split: Split) -> usize {
        self.span(split).tokens.len()
    }

    /// UTF-8 bytes per token of `split`, which turns nats per token into
    /// bits per byte.
    pub fn bytes_per_token(&self, split: Split) -> f64 {
        let span = self.span(split);
        span.bytes as f64 / span.tokens.len() as f64
    }

    /// Windows `part` of the `batch` training windows of training step
    /// `step` (1-based) of a run seeded by `seed`: starts drawn uniformly
    /// from the train span (`0..batch` for the whole batch; a data-parallel
    /// rank takes its slice of the same draw).
    pub fn train_windows(&self, seed: u64, batch: usize, step: u64, part: Range<usize>) -> Windows {
        let tokens = &self.span(Split::Train).tokens;
        let mut rng = example_rng(seed, Split::Train, step as usize);
        let last_start = tokens.len() - self.seq_len - 1;
        let starts: Vec<usize> = (0..batch)
            .map(|_| rng.random_range(0..=last_start))
            .collect();
        self.windows(tokens, &starts[part], self.seq_len)
    }

    /// The evaluation windows of `split`, `batch` at a time: consecutive
    /// windows of up to `seq_len` targets covering the first
    /// `max_eval_tokens` targets (the last window shorter, alone in its
    /// batch).
    pub fn eval_batches(&self, split: Split, batch: usize) -> Vec<Windows> {
        let tokens = &self.span(split).tokens;
        let targets = (tokens.len() - 1).min(self.max_eval_tokens);
        let full = targets / self.seq_len;
        let starts: Vec<usize> = (0..full).map(|w| w * self.seq_len).collect();
        let mut batches: Vec<Windows> = starts
            .chunks(batch.max(1))
            .map(|s| self.windows(tokens, s, self.seq_len))
            .collect();
        let rest = targets - full * self.seq_len;
        if rest > 0 {
            batches.push(self.windows(tokens, &[full * self.seq_len], rest));
        }
        batches
    }

    fn windows(&self, tokens: &[u32], starts: &[usize], len: usize) -> Windows {
        let mut inputs = Vec::with_capacity(starts.len() * len);
        let mut targets = Vec::with_capacity(starts.len() * len);
        for &s in starts {
            inputs.extend(tokens[s..s + len].iter().map(|&t| i64::from(t)));
            targets.extend(tokens[s + 1..s + len + 1].iter().map(|&t| i64::from(t)));
        }
        Windows {
            inputs,
            targets,
            count: starts.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh scratch folder of this test process.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("ssm-text-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn corpus(text: &str) -> (PathBuf, TextConfig) {
        let dir = scratch(&format!(
            "{:x}",
            text.len() * 31 + text.bytes().map(usize::from).sum::<usize>()
        ));
        let path = dir.join("corpus.txt");
        std::fs::write(&path, text).unwrap();
        let config = TextConfig {
            path: Some(path),
            seq_len: 8,
            val_fraction: 0.1,
            test_fraction: 0.1,
            max_eval_tokens: 1000,
            ..TextConfig::default()
        };
        (dir, config)
    }

    #[test]
    fn byte_spans_cover_the_text_and_windows_shift_by_one() {
        let text: String = (0..200)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let (_dir, config) = corpus(&text);
        let data = config.load().unwrap();
        assert_eq!(data.vocab(), 256);
        let total: usize = [Split::Train, Split::Val, Split::Test]
            .iter()
            .map(|&s| data.tokens(s))
            .sum();
        assert_eq!(total, 200);
        assert_eq!(data.tokens(Split::Test), 20);
        assert_eq!(data.bytes_per_token(Split::Val), 1.0);
        let w = data.train_windows(3, 4, 1, 0..4);
        assert_eq!((w.count, w.inputs.len()), (4, 32));
        for (row_in, row_t) in w.inputs.chunks(8).zip(w.targets.chunks(8)) {
            assert_eq!(&row_in[1..], &row_t[..7]);
        }
        assert_eq!(w, data.train_windows(3, 4, 1, 0..4));
        assert_ne!(w, data.train_windows(3, 4, 2, 0..4));
        // A rank's slice is its part of the same draw.
        let half = data.train_windows(3, 4, 1, 2..4);
        assert_eq!((half.inputs.as_slice(), half.count), (&w.inputs[16..], 2));
        // 19 val targets: two full windows of 8, then one of 3.
        let eval = data.eval_batches(Split::Val, 5);
        let lens: Vec<usize> = eval.iter().map(|b| b.targets.len()).collect();
        assert_eq!(lens, [16, 3]);
        assert_eq!(eval[1].inputs[0], i64::from(b'a' + (176 % 26) as u8));
    }

    #[test]
    fn spans_end_at_character_boundaries() {
        let text = "é".repeat(100);
        let (_dir, config) = corpus(&text);
        let data = config.load().unwrap();
        for split in [Split::Train, Split::Val, Split::Test] {
            assert_eq!(
                data.tokens(split) % 2,
                0,
                "{split:?} cut inside a character"
            );
        }
    }

    #[test]
    fn bad_corpora_are_errors_naming_the_problem() {
        let (_dir, config) = corpus("");
        assert!(config.load().unwrap_err().to_string().contains("empty"));
        let (_dir, config) = corpus("short text");
        let err = config.load().unwrap_err().to_string();
        assert!(err.contains("train span"), "{err}");
        let missing = TextConfig {
            path: Some("/nonexistent/corpus.txt".into()),
            ..TextConfig::default()
        };
        assert!(
            missing
                .load()
                .unwrap_err()
                .to_string()
                .contains("corpus.txt")
        );
        let (_dir, bad) = corpus("x");
        let bad = TextConfig { seq_len: 0, ..bad };
        assert!(bad.load().unwrap_err().to_string().contains("task.seq_len"));
    }

    #[test]
    fn a_tokenizer_needs_utf8() {
        let dir = scratch("utf8");
        let path = dir.join("corpus.bin");
        std::fs::write(&path, [0xff_u8; 100]).unwrap();
        let tokenizer = dir.join("tokenizer.json");
        std::fs::write(
            &tokenizer,
            r#"{"version":"1.0","truncation":null,"padding":null,"added_tokens":[],"normalizer":null,"pre_tokenizer":null,"post_processor":null,"decoder":null,"model":{"type":"WordLevel","vocab":{"a":0,"[UNK]":1},"unk_token":"[UNK]"}}"#,
        )
        .unwrap();
        let config = TextConfig {
            path: Some(path.clone()),
            tokenizer: Some(tokenizer),
            seq_len: 4,
            ..TextConfig::default()
        };
        let err = config.load().unwrap_err().to_string();
        assert!(err.contains("not UTF-8"), "{err}");
        // The same bytes as byte-level tokens load.
        let bytes = TextConfig {
            tokenizer: None,
            ..config
        };
        assert_eq!(bytes.load().unwrap().tokens(Split::Train), 90);
    }
}
