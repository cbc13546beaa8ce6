//! Long Range Arena ListOps (Tay et al. 2021; Nangia & Bowman 2018):
//! nested list operations over single digits, e.g.
//! `[MAX 2 9 [MIN 4 7 ] 0 ]` → 9, written as tokens without parentheses.
//!
//! Generation rules of the LRA release: a node below the maximum depth is an
//! operator with probability 1/4 (else a digit); an operator takes 2..=max_args
//! arguments and is one of MIN, MAX, MED (median, truncated to an integer),
//! SM (sum mod 10). Trees are drawn until their token count lies strictly
//! between min_length and max_length. Ten classes (the value 0–9).

use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{Example, Split, Task, check_split_sizes, example_rng, split_size};
use crate::error::{Error, Result};
use crate::models::classifier::InputKind;

/// Probability that a node (above the maximum depth) is an operator.
const OPERATOR_P: f64 = 0.25;

/// ListOps generator settings (defaults: the LRA release).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListOpsConfig {
    /// Seed of the data.
    pub seed: u64,
    /// Maximum nesting depth.
    pub max_depth: usize,
    /// Maximum arguments per operator.
    pub max_args: usize,
    /// Token count is greater than this.
    pub min_length: usize,
    /// Token count is less than this.
    pub max_length: usize,
    /// Training examples.
    pub train_size: usize,
    /// Validation examples.
    pub val_size: usize,
    /// Test examples.
    pub test_size: usize,
}

impl Default for ListOpsConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            max_depth: 10,
            max_args: 10,
            min_length: 500,
            max_length: 2000,
            train_size: 96_000,
            val_size: 2_000,
            test_size: 2_000,
        }
    }
}

/// Token ids: 0 is padding, digits are 1..=10, then the operators and `]`.
pub mod vocab {
    /// Padding.
    pub const PAD: i64 = 0;
    /// The digit d is token d + 1.
    pub const DIGIT0: i64 = 1;
    /// `[MIN`.
    pub const MIN: i64 = 11;
    /// `[MAX`.
    pub const MAX: i64 = 12;
    /// `[MED`.
    pub const MED: i64 = 13;
    /// `[SM`.
    pub const SM: i64 = 14;
    /// `]`.
    pub const END: i64 = 15;
    /// Vocabulary size.
    pub const SIZE: usize = 16;
}

/// The ListOps task.
pub struct ListOps {
    config: ListOpsConfig,
}

impl ListOps {
    /// Checks the settings.
    pub fn new(config: ListOpsConfig) -> Result<Self> {
        check_split_sizes(config.train_size, config.val_size, config.test_size)?;
        if config.max_args < 2 {
            return Err(Error::config(
                "task.max_args",
                "operators take at least 2 arguments",
            ));
        }
        if config.max_depth < 1 || config.min_length + 1 >= config.max_length {
            return Err(Error::config(
                "task.min_length/max_length/max_depth",
                "need max_depth ≥ 1 and min_length + 1 < max_length",
            ));
        }
        Ok(Self { config })
    }
}

/// Appends a random tree's tokens to `out`; returns its value.
fn tree(
    rng: &mut impl Rng,
    depth: usize,
    config: &ListOpsConfig,
    out: &mut Vec<i64>,
    budget: usize,
) -> Option<i64> {
    if out.len() > budget {
        return None; // already too long: abandon this draw
    }
    let operator = depth < config.max_depth && rng.random::<f64>() <= OPERATOR_P;
    if !operator {
        let v = rng.random_range(0..10);
        out.push(vocab::DIGIT0 + v);
        return Some(v);
    }
    let args = rng.random_range(2..=config.max_args);
    let op = [vocab::MIN, vocab::MAX, vocab::MED, vocab::SM][rng.random_range(0..4)];
    out.push(op);
    let mut values = Vec::with_capacity(args);
    for _ in 0..args {
        values.push(tree(rng, depth + 1, config, out, budget)?);
    }
    out.push(vocab::END);
    Some(match op {
        vocab::MIN => *values.iter().min().unwrap(),
        vocab::MAX => *values.iter().max().unwrap(),
        vocab::MED => {
            values.sort_unstable();
            let n = values.len();
            // numpy's median, truncated by int(): mean of the middle pair.
            if n % 2 == 1 {
                values[n / 2]
            } else {
                (values[n / 2 - 1] + values[n / 2]) / 2
            }
        }
        _ => values.iter().sum::<i64>() % 10,
    })
}

impl Task for ListOps {
    fn name(&self) -> &str {
        "listops"
    }

    fn input(&self) -> InputKind {
        InputKind::Tokens { vocab: vocab::SIZE }
    }

    fn classes(&self) -> usize {
        10
    }

    fn max_len(&self) -> usize {
        self.config.max_length - 1
    }

    fn size(&self, split: Split) -> usize {
        let c = &self.config;
        split_size(split, c.train_size, c.val_size, c.test_size)
    }

    fn example(&self, split: Split, index: usize) -> Example {
        let mut rng = example_rng(self.config.seed, split, index);
        let mut tokens = Vec::new();
        loop {
            tokens.clear();
            if let Some(label) = tree(
                &mut rng,
                1,
                &self.config,
                &mut tokens,
                self.config.max_length,
            ) && tokens.len() > self.config.min_length
                && tokens.len() < self.config.max_length
            {
                return Example::Tokens { tokens, label };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Evaluates a token sequence by the ListOps rules, independently of the generator.
    fn evaluate(tokens: &[i64]) -> i64 {
        let mut stack: Vec<Vec<i64>> = vec![Vec::new()];
        let mut ops = Vec::new();
        for &t in tokens {
            match t {
                vocab::MIN | vocab::MAX | vocab::MED | vocab::SM => {
                    ops.push(t);
                    stack.push(Vec::new());
                }
                vocab::END => {
                    let mut args = stack.pop().unwrap();
                    let v = match ops.pop().unwrap() {
                        vocab::MIN => *args.iter().min().unwrap(),
                        vocab::MAX => *args.iter().max().unwrap(),
                        vocab::MED => {
                            args.sort();
                            let n = args.len();
                            if n % 2 == 1 {
                                args[n / 2]
                            } else {
                                (args[n / 2 - 1] + args[n / 2]) / 2
                            }
                        }
                        _ => args.iter().sum::<i64>() % 10,
                    };
                    stack.last_mut().unwrap().push(v);
                }
                d => stack.last_mut().unwrap().push(d - vocab::DIGIT0),
            }
        }
        stack[0][0]
    }

    #[test]
    fn examples_are_deterministic_in_range_and_correctly_labelled() {
        let task = ListOps::new(ListOpsConfig {
            min_length: 20,
            max_length: 200,
            ..ListOpsConfig::default()
        })
        .unwrap();
        let mut labels = [0usize; 10];
        for i in 0..300 {
            let e = task.example(Split::Train, i);
            assert_eq!(e, task.example(Split::Train, i));
            let Example::Tokens { tokens, label } = &e else {
                panic!()
            };
            assert!(tokens.len() > 20 && tokens.len() < 200);
            assert_eq!(evaluate(tokens), *label, "{tokens:?}");
            labels[*label as usize] += 1;
        }
        assert!(
            labels.iter().filter(|&&c| c > 0).count() >= 8,
            "labels spread over classes: {labels:?}"
        );
        assert_ne!(task.example(Split::Train, 0), task.example(Split::Test, 0));
    }
}
