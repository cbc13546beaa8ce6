//! Selective copying (Gu & Dao 2023, §3.1 and App. E.1; the copying task of
//! the S4 repository with random positions): data tokens sit at random
//! positions among noise; after them come marker tokens, and at the i-th
//! marker the model must output the i-th data token. Solving it needs
//! content-aware (selective) memory: the data positions vary per example.
//!
//! Tokens: 0 is noise, 1..=vocab−2 are data, vocab−1 is the marker.
//! Sequence: `length` steps holding `tokens` data tokens in order at random
//! distinct positions, then `tokens` markers; total `length + tokens`.

use rand::Rng;
use rand::seq::index::sample;
use serde::{Deserialize, Serialize};

use super::{Example, Split, Task, check_split_sizes, example_rng, nonzero, split_size};
use crate::error::{Error, Result};
use crate::models::classifier::InputKind;

/// Selective copying settings (defaults: the Mamba paper's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SelectiveCopyingConfig {
    /// Seed of the data.
    pub seed: u64,
    /// Steps holding the data tokens and noise (before the markers).
    pub length: usize,
    /// Data tokens to copy.
    pub tokens: usize,
    /// Vocabulary size: noise, vocab − 2 data tokens, the marker.
    pub vocab: usize,
    /// Training examples.
    pub train_size: usize,
    /// Validation examples.
    pub val_size: usize,
    /// Test examples.
    pub test_size: usize,
}

impl Default for SelectiveCopyingConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            length: 4096,
            tokens: 16,
            vocab: 16,
            train_size: 1_000_000,
            val_size: 512,
            test_size: 1024,
        }
    }
}

/// The selective copying task.
pub struct SelectiveCopying {
    config: SelectiveCopyingConfig,
}

impl SelectiveCopying {
    /// Checks the settings.
    pub fn new(config: SelectiveCopyingConfig) -> Result<Self> {
        check_split_sizes(config.train_size, config.val_size, config.test_size)?;
        nonzero("task.tokens", config.tokens)?;
        if config.vocab < 3 {
            return Err(Error::config(
                "task.vocab",
                "needs noise, a marker and at least one data token (vocab ≥ 3)",
            ));
        }
        if config.tokens > config.length {
            return Err(Error::config(
                "task.tokens",
                format!(
                    "{} data tokens do not fit in length {}",
                    config.tokens, config.length
                ),
            ));
        }
        Ok(Self { config })
    }

    /// The marker token.
    pub fn marker(&self) -> i64 {
        self.config.vocab as i64 - 1
    }
}

impl Task for SelectiveCopying {
    fn name(&self) -> &str {
        "selective_copying"
    }

    fn input(&self) -> InputKind {
        InputKind::Tokens {
            vocab: self.config.vocab,
        }
    }

    fn classes(&self) -> usize {
        self.config.vocab
    }

    fn max_len(&self) -> usize {
        self.config.length + self.config.tokens
    }

    fn size(&self, split: Split) -> usize {
        let c = &self.config;
        split_size(split, c.train_size, c.val_size, c.test_size)
    }

    fn step_targets(&self) -> bool {
        true
    }

    fn example(&self, split: Split, index: usize) -> Example {
        let c = &self.config;
        let mut rng = example_rng(c.seed, split, index);
        let data: Vec<i64> = (0..c.tokens)
            .map(|_| rng.random_range(1..c.vocab as i64 - 1))
            .collect();
        let mut positions = sample(&mut rng, c.length, c.tokens).into_vec();
        positions.sort_unstable();
        let mut tokens = vec![0i64; c.length + c.tokens];
        for (&p, &d) in positions.iter().zip(&data) {
            tokens[p] = d;
        }
        tokens[c.length..].fill(self.marker());
        let targets = data
            .iter()
            .enumerate()
            .map(|(i, &d)| (c.length + i, d))
            .collect();
        Example::Steps { tokens, targets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_ask_for_the_data_tokens_in_order() {
        let task = SelectiveCopying::new(SelectiveCopyingConfig {
            length: 40,
            tokens: 5,
            vocab: 8,
            ..SelectiveCopyingConfig::default()
        })
        .unwrap();
        for i in 0..50 {
            let e = task.example(Split::Train, i);
            assert_eq!(e, task.example(Split::Train, i));
            let Example::Steps { tokens, targets } = e else {
                panic!()
            };
            assert_eq!(tokens.len(), 45);
            let data: Vec<i64> = tokens[..40].iter().copied().filter(|&t| t != 0).collect();
            let wanted: Vec<i64> = targets.iter().map(|&(_, c)| c).collect();
            assert_eq!(data, wanted);
            assert!(data.iter().all(|&d| (1..7).contains(&d)));
            assert!(tokens[40..].iter().all(|&t| t == 7));
            assert_eq!(
                targets.iter().map(|&(t, _)| t).collect::<Vec<_>>(),
                (40..45).collect::<Vec<_>>()
            );
        }
        assert_ne!(task.example(Split::Train, 0), task.example(Split::Train, 1));
    }
}
