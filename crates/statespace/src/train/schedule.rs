//! Learning-rate schedules, as multipliers of the configured rates.

use serde::{Deserialize, Serialize};

/// Linear warm-up to the peak, then cosine decay to zero at `total` steps.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CosineWithWarmup {
    /// Warm-up steps.
    pub warmup: u64,
    /// Total steps.
    pub total: u64,
}

impl CosineWithWarmup {
    /// The multiplier at `step` (1-based): step/warmup during warm-up, then
    /// ½(1 + cos(π·progress)).
    pub fn factor(&self, step: u64) -> f64 {
        if self.warmup > 0 && step <= self.warmup {
            return step as f64 / self.warmup as f64;
        }
        let span = self.total.saturating_sub(self.warmup).max(1) as f64;
        let progress = ((step - self.warmup.min(step)) as f64 / span).min(1.0);
        0.5 * (1.0 + (std::f64::consts::PI * progress).cos())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_then_cosine() {
        let s = CosineWithWarmup {
            warmup: 10,
            total: 110,
        };
        assert_eq!(s.factor(5), 0.5);
        assert_eq!(s.factor(10), 1.0);
        assert!((s.factor(60) - 0.5).abs() < 1e-12);
        assert!(s.factor(110).abs() < 1e-12);
        assert!(s.factor(500).abs() < 1e-12);
    }
}
