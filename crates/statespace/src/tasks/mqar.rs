//! Multi-query associative recall (Arora et al. 2023, "Zoology"): the
//! sequence opens with key–value pairs `k1 v1 … kn vn`; afterwards every key
//! is queried once at a random later position, and at each query the model
//! must output that key's value. The query gaps follow Zoology's power law
//! (most queries come soon after the context, some far), and the other
//! positions hold random tokens.
//!
//! Tokens: keys are drawn from 1..vocab/2, values from vocab/2..vocab, both
//! without repetition within a sequence; the value also follows its query
//! key in the input, as in Zoology's next-token layout.

use rand::Rng;
use rand::seq::index::sample;
use serde::{Deserialize, Serialize};

use super::{Example, Split, Task, check_split_sizes, example_rng, split_size};
use crate::error::{Error, Result};
use crate::models::classifier::InputKind;

/// MQAR settings (defaults: a Zoology training segment).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct MqarConfig {
    /// Seed of the data.
    pub seed: u64,
    /// Vocabulary size (keys in the lower half, values in the upper).
    pub vocab: usize,
    /// Sequence length of the training and validation splits.
    pub length: usize,
    /// Key–value pairs per training and validation sequence.
    pub kv_pairs: usize,
    /// Sequence length of the test split (length generalisation).
    pub test_length: usize,
    /// Key–value pairs per test sequence.
    pub test_kv_pairs: usize,
    /// Exponent of the power law of query gaps (smaller: more short gaps).
    pub power_a: f64,
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
            test_length: 256,
            test_kv_pairs: 16,
            power_a: 0.01,
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
        for (key, len, pairs) in [
            ("task.length/kv_pairs", config.length, config.kv_pairs),
            (
                "task.test_length/test_kv_pairs",
                config.test_length,
                config.test_kv_pairs,
            ),
        ] {
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
        let (len, pairs) = if split == Split::Test {
            (c.test_length, c.test_kv_pairs)
        } else {
            (c.length, c.kv_pairs)
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
        let mut tokens: Vec<i64> = (0..len)
            .map(|_| rng.random_range(0..c.vocab as i64))
            .collect();
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
            tokens[at + 1] = values[i];
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
                }
            }
        }
        // The power law puts most queries close to the context.
        assert!(
            near > 400,
            "{near} of 1800 queries within 8 steps of the context"
        );
    }
}
