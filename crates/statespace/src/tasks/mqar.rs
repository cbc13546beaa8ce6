//! Multi-query associative recall (Arora et al. 2023, "Zoology"): the
//! sequence opens with key–value pairs `k1 v1 … kn vn`; afterwards every key
//! is queried once at a random later position, and at each query the model
//! must output that key's value. The query gaps follow Zoology's power law
//! (most queries come soon after the context, some far), and the other
//! positions hold random tokens (Zoology's `random_non_queries`, its
//! default) or 0, a token no key or value uses (its paper's Figure 2
//! recipe).
//!
//! Tokens: keys are drawn from 1..vocab/2, values from vocab/2..vocab, both
//! without repetition within a sequence. The target sits at the query key's
//! own step (the model reads the key and outputs the value); the step after
//! a query holds a random token like every other non-query step, as in
//! Zoology's `multiquery_ar` (its `random_non_queries` fill), so the input
//! never shows the answer after the question.
//!
//! The training split is one setting (`length`, `kv_pairs`) or, with
//! `train_mix`, a mix of settings as Zoology trains (100,000 sequences of 64
//! with 4 pairs, then 20,000 each of 128/8, 256/16, 256/32 and 256/64); a
//! batch pads its shorter sequences at the end, which a causal model never
//! reads back.

use rand::Rng;
use rand::seq::index::sample;
use serde::{Deserialize, Serialize};

use super::{Example, Split, Task, check_split_sizes, example_rng, split_size};
use crate::error::{Error, Result};
use crate::models::classifier::InputKind;

/// One setting of a training mix: `examples` sequences of `length` tokens
/// with `kv_pairs` key–value pairs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MqarSetting {
    /// Sequence length.
    pub length: usize,
    /// Key–value pairs per sequence.
    pub kv_pairs: usize,
    /// Sequences of this setting in the training split.
    pub examples: usize,
}

/// MQAR settings (defaults: a Zoology training segment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqarConfig {
    /// Seed of the data.
    pub seed: u64,
    /// Vocabulary size (keys in the lower half, values in the upper).
    pub vocab: usize,
    /// Sequence length of the validation split, and of the training split
    /// unless `train_mix` is given.
    pub length: usize,
    /// Key–value pairs per validation sequence (and training sequence,
    /// unless `train_mix` is given).
    pub kv_pairs: usize,
    /// The training split as consecutive blocks of settings (empty: every
    /// training sequence is `length` / `kv_pairs`); their examples must add
    /// up to `train_size`.
    pub train_mix: Vec<MqarSetting>,
    /// Sequence length of the test split (length generalisation).
    pub test_length: usize,
    /// Key–value pairs per test sequence.
    pub test_kv_pairs: usize,
    /// Exponent of the power law of query gaps (smaller: more short gaps).
    pub power_a: f64,
    /// Whether the steps that are neither a pair nor a query hold random
    /// tokens (`true`) or 0 (`false`).
    pub random_non_queries: bool,
    /// Training examples.
    pub train_size: usize,
    /// Validation examples.
    pub val_size: usize,
    /// Test examples.
    pub test_size: usize,
}

impl Default for MqarConfig {
    fn default() -> Self {
        Self {
            seed: 0,
            vocab: 8192,
            length: 256,
            kv_pairs: 16,
            train_mix: Vec::new(),
            test_length: 256,
            test_kv_pairs: 16,
            power_a: 0.01,
            random_non_queries: true,
            train_size: 100_000,
            val_size: 500,
            test_size: 1000,
        }
    }
}

/// The MQAR task.
pub struct Mqar {
    config: MqarConfig,
}

impl Mqar {
    /// Checks the settings.
    pub fn new(config: MqarConfig) -> Result<Self> {
        check_split_sizes(config.train_size, config.val_size, config.test_size)?;
        let mut settings = vec![
            ("task.length/kv_pairs", config.length, config.kv_pairs),
            (
                "task.test_length/test_kv_pairs",
                config.test_length,
                config.test_kv_pairs,
            ),
        ];
        for s in &config.train_mix {
            settings.push(("task.train_mix", s.length, s.kv_pairs));
            if s.examples == 0 {
                return Err(Error::config(
                    "task.train_mix",
                    "every setting needs examples ≥ 1",
                ));
            }
        }
        let mixed: usize = config.train_mix.iter().map(|s| s.examples).sum();
        if !config.train_mix.is_empty() && mixed != config.train_size {
            return Err(Error::config(
                "task.train_size",
                format!(
                    "is {}, but the examples of task.train_mix add up to {mixed}",
                    config.train_size
                ),
            ));
        }
        for (key, len, pairs) in settings {
            if pairs == 0 || len < 4 * pairs {
                return Err(Error::config(
                    key,
                    format!(
                        "{pairs} pairs and their queries need 1 ≤ pairs and length ≥ 4·pairs, not length {len}"
                    ),
                ));
            }
            if 2 * pairs >= config.vocab {
                return Err(Error::config(
                    "task.vocab",
                    format!(
                        "vocab {} has too few keys and values for {pairs} distinct pairs",
                        config.vocab
                    ),
                ));
            }
        }
        if !(config.power_a > 0.0 && config.power_a <= 1.0) {
            return Err(Error::config("task.power_a", "must be in (0, 1]"));
        }
        Ok(Self { config })
    }

    /// (length, pairs) of training example `index` under `train_mix`: the
    /// settings fill the split in their order.
    fn mixed_setting(&self, index: usize) -> (usize, usize) {
        let mut first = 0;
        for s in &self.config.train_mix {
            if index < first + s.examples {
                return (s.length, s.kv_pairs);
            }
            first += s.examples;
        }
        let last = self.config.train_mix.last().expect("a mix is not empty");
        (last.length, last.kv_pairs)
    }
}

/// Draws `k` distinct values from 0..n with P(x) ∝ (x+1)^(a−1).
fn power_law_distinct(rng: &mut impl Rng, n: usize, k: usize, a: f64) -> Vec<usize> {
    let mut weights: Vec<f64> = (1..=n).map(|x| (x as f64).powf(a - 1.0)).collect();
    let mut chosen = Vec::with_capacity(k);
    for _ in 0..k {
        let total: f64 = weights.iter().sum();
        let mut u = rng.random::<f64>() * total;
        let mut pick = n - 1;
        for (i, &w) in weights.iter().enumerate() {
            if w > 0.0 && u < w {
                pick = i;
                break;
            }
            u -= w;
        }
        while weights[pick] == 0.0 {
            pick -= 1; // rounding at the tail: take the last one left
        }
        weights[pick] = 0.0;
        chosen.push(pick);
    }
    chosen
}

impl Task for Mqar {
    fn name(&self) -> &str {
        "mqar"
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
        let c = &self.config;
        let mixed = c.train_mix.iter().map(|s| s.length);
        mixed.fold(c.length.max(c.test_length), usize::max)
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
        let (len, pairs) = match split {
            Split::Test => (c.test_length, c.test_kv_pairs),
            Split::Train if !c.train_mix.is_empty() => self.mixed_setting(index),
            _ => (c.length, c.kv_pairs),
        };
        let mut rng = example_rng(c.seed, split, index);
        let half = c.vocab / 2;
        let keys: Vec<i64> = sample(&mut rng, half - 1, pairs)
            .iter()
            .map(|k| k as i64 + 1)
            .collect();
        let values: Vec<i64> = sample(&mut rng, c.vocab - half, pairs)
            .iter()
            .map(|v| (v + half) as i64)
            .collect();
        let mut tokens: Vec<i64> = if c.random_non_queries {
            (0..len)
                .map(|_| rng.random_range(0..c.vocab as i64))
                .collect()
        } else {
            vec![0; len]
        };
        for i in 0..pairs {
            tokens[2 * i] = keys[i];
            tokens[2 * i + 1] = values[i];
        }
        let context = 2 * pairs;
        let slots = (len - context) / 2;
        let gaps = power_law_distinct(&mut rng, slots, pairs, c.power_a);
        let mut targets = Vec::with_capacity(pairs);
        for (i, gap) in gaps.into_iter().enumerate() {
            let at = context + 2 * gap;
            tokens[at] = keys[i];
            targets.push((at, values[i]));
        }
        targets.sort_unstable();
        Example::Steps { tokens, targets }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn every_key_is_queried_once_after_the_context_and_asks_for_its_value() {
        let task = Mqar::new(MqarConfig {
            vocab: 64,
            length: 48,
            kv_pairs: 6,
            test_length: 96,
            test_kv_pairs: 12,
            ..MqarConfig::default()
        })
        .unwrap();
        let mut near = 0;
        let mut answered = 0;
        for (split, len, pairs) in [(Split::Train, 48, 6), (Split::Test, 96, 12)] {
            for i in 0..100 {
                let e = task.example(split, i);
                assert_eq!(e, task.example(split, i));
                let Example::Steps { tokens, targets } = e else {
                    panic!()
                };
                assert_eq!(tokens.len(), len);
                assert_eq!(targets.len(), pairs);
                let map: HashMap<i64, i64> = (0..pairs)
                    .map(|j| (tokens[2 * j], tokens[2 * j + 1]))
                    .collect();
                assert_eq!(map.len(), pairs, "keys are distinct");
                assert!(map.keys().all(|&k| (1..32).contains(&k)));
                assert!(map.values().all(|&v| (32..64).contains(&v)));
                for &(at, value) in &targets {
                    assert!(at >= 2 * pairs && at + 1 < len);
                    assert_eq!(map[&tokens[at]], value);
                    near += usize::from(at < 2 * pairs + 8);
                    answered += usize::from(tokens[at + 1] == value);
                }
            }
        }
        // The power law puts most queries close to the context.
        assert!(
            near > 400,
            "{near} of 1800 queries within 8 steps of the context"
        );
        // The step after a query is noise (1 in 64 by chance), not its value.
        assert!(
            answered < 90,
            "{answered} of 1800 queries followed by their value"
        );
    }

    #[test]
    fn without_random_non_queries_only_pairs_and_queries_are_non_zero() {
        let task = Mqar::new(MqarConfig {
            vocab: 64,
            length: 48,
            kv_pairs: 6,
            random_non_queries: false,
            ..MqarConfig::default()
        })
        .unwrap();
        for i in 0..50 {
            let Example::Steps { tokens, targets } = task.example(Split::Train, i) else {
                panic!()
            };
            let queried: Vec<usize> = targets.iter().map(|&(at, _)| at).collect();
            for (at, &t) in tokens.iter().enumerate() {
                let used = at < 12 || queried.contains(&at);
                assert_eq!(t != 0, used, "step {at} of example {i}: {tokens:?}");
            }
        }
    }

    fn mix() -> Vec<MqarSetting> {
        vec![
            MqarSetting {
                length: 16,
                kv_pairs: 2,
                examples: 3,
            },
            MqarSetting {
                length: 48,
                kv_pairs: 6,
                examples: 2,
            },
        ]
    }

    #[test]
    fn a_training_mix_fills_the_split_in_order_and_leaves_the_others_alone() {
        let task = Mqar::new(MqarConfig {
            vocab: 64,
            length: 32,
            kv_pairs: 4,
            train_mix: mix(),
            train_size: 5,
            test_length: 96,
            test_kv_pairs: 12,
            ..MqarConfig::default()
        })
        .unwrap();
        assert_eq!(task.max_len(), 96);
        let shape = |split, i| match task.example(split, i) {
            Example::Steps { tokens, targets } => (tokens.len(), targets.len()),
            _ => panic!("MQAR examples have step targets"),
        };
        let train: Vec<_> = (0..5).map(|i| shape(Split::Train, i)).collect();
        assert_eq!(train, [(16, 2), (16, 2), (16, 2), (48, 6), (48, 6)]);
        assert_eq!(shape(Split::Val, 0), (32, 4));
        assert_eq!(shape(Split::Test, 0), (96, 12));
    }

    #[test]
    fn a_training_mix_must_match_the_split_size_and_fit_its_pairs() {
        let config = MqarConfig {
            vocab: 64,
            length: 32,
            kv_pairs: 4,
            train_mix: mix(),
            ..MqarConfig::default()
        };
        let err = Mqar::new(config.clone()).err().unwrap().to_string();
        assert!(
            err.contains("task.train_size") && err.contains("add up to 5"),
            "{err}"
        );
        let mut cramped = config;
        cramped.train_size = 5;
        cramped.train_mix[1].length = 20;
        let err = Mqar::new(cramped).err().unwrap().to_string();
        assert!(err.contains("task.train_mix"), "{err}");
    }
}
