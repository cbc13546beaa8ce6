//! Induction heads (Olsson et al. 2022; the Mamba paper's App. E.1.2): a
//! random token sequence holds a trigger token once, followed by some token
//! b; the sequence ends with the trigger again, and the model must output b
//! there. Models that learn the associative recall extrapolate to longer
//! sequences, so the test split may be longer than the training one.
//!
//! Tokens: 0..=vocab−2 are ordinary, vocab−1 is the trigger.

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{Example, Split, Task, check_split_sizes, example_rng, split_size};
use crate::error::{Error, Result};
use crate::models::classifier::InputKind;

/// Induction heads settings (defaults: the Mamba paper's).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InductionHeadsConfig {
    /// Seed of the data.
    pub seed: u64,
    /// Vocabulary size, the trigger included.
    pub vocab: usize,
    /// Sequence length of the training and validation splits.
    pub length: usize,
    /// Sequence length of the test split (length generalisation).
    pub test_length: usize,
    /// Training examples.
    pub train_size: usize,
    /// Validation examples.
    pub val_size: usize,
    /// Test examples.
    pub test_size: usize,
}

impl Default for InductionHeadsConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            vocab: 16,
            length: 256,
            test_length: 256,
            train_size: 1_000_000,
            val_size: 512,
            test_size: 512,
        }
    }
}

/// The induction heads task.
pub struct InductionHeads {
    config: InductionHeadsConfig,
}

impl InductionHeads {
    /// Checks the settings.
    pub fn new(config: InductionHeadsConfig) -> Result<Self> {
        check_split_sizes(config.train_size, config.val_size, config.test_size)?;
        if config.vocab < 3 {
            return Err(Error::config(
                "task.vocab",
                "needs a trigger and at least two tokens (vocab ≥ 3)",
            ));
        }
        if config.length < 3 || config.test_length < 3 {
            return Err(Error::config(
                "task.length/test_length",
                "a sequence needs the trigger, its successor and the final trigger (length ≥ 3)",
            ));
        }
        Ok(Self { config })
    }

    /// The trigger token.
    pub fn trigger(&self) -> i64 {
        self.config.vocab as i64 - 1
    }
}

impl Task for InductionHeads {
    fn name(&self) -> &str {
        "induction_heads"
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
        self.config.length.max(self.config.test_length)
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
        let len = if split == Split::Test {
            c.test_length
        } else {
            c.length
        };
        let mut rng = example_rng(c.seed, split, index);
        let ordinary = c.vocab as i64 - 1;
        let mut tokens: Vec<i64> = (0..len).map(|_| rng.random_range(0..ordinary)).collect();
        let at = rng.random_range(0..len - 2);
        tokens[at] = self.trigger();
        tokens[len - 1] = self.trigger();
        let answer = tokens[at + 1];
        Example::Steps {
            tokens,
            targets: vec![(len - 1, answer)],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_follows_the_only_earlier_trigger() {
        let task = InductionHeads::new(InductionHeadsConfig {
            length: 20,
            test_length: 64,
            ..InductionHeadsConfig::default()
        })
        .unwrap();
        for (split, len) in [(Split::Train, 20), (Split::Test, 64)] {
            for i in 0..100 {
                let Example::Steps { tokens, targets } = task.example(split, i) else {
                    panic!()
                };
                assert_eq!(tokens.len(), len);
                let triggers: Vec<usize> = (0..len).filter(|&t| tokens[t] == 15).collect();
                assert_eq!(triggers.len(), 2, "{tokens:?}");
                assert_eq!(triggers[1], len - 1);
                assert_eq!(targets, vec![(len - 1, tokens[triggers[0] + 1])]);
            }
        }
    }
}
