//! Shared helpers of the golden tests: where the reference data lives and how
//! results are compared with it.

pub mod loops;

use std::path::PathBuf;

use statespace::golden::{self, Check, GoldenSet};
use statespace::io::SafetensorsFile;

/// The golden reference folder: `SSM_GOLDEN_DIR` (relative paths from the
/// repository root, where `cargo test` is usually run), else
/// `../shared/golden` next to the repository.
pub fn golden_dir() -> PathBuf {
    let repo_root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = golden::golden_dir(&repo_root);
    assert!(
        dir.is_dir(),
        "golden reference folder {} not found: set SSM_GOLDEN_DIR",
        dir.display()
    );
    dir
}

/// The golden folder with its manifest (a malformed manifest fails).
pub fn golden_set() -> GoldenSet {
    GoldenSet::open(golden_dir()).unwrap_or_else(|e| panic!("{e}"))
}

/// The repository's own reference cases (`tests/reference`), made with the
/// official code by `scripts/reference/`.
pub fn reference_set() -> GoldenSet {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference");
    GoldenSet::open(dir).unwrap_or_else(|e| panic!("{e}"))
}

/// Every golden case whose file name starts with `prefix`; panics on none
/// or on fewer than the manifest lists.
pub fn golden_cases(prefix: &str) -> Vec<(String, SafetensorsFile)> {
    golden_set().cases(prefix).unwrap_or_else(|e| panic!("{e}"))
}

/// The cases of `prefix` in `set` (possibly none), each with the set's
/// manifest entry source.
pub fn cases_in(set: &GoldenSet, prefix: &str) -> Vec<(String, SafetensorsFile)> {
    set.cases_if_any(prefix).unwrap_or_else(|e| panic!("{e}"))
}

/// Asserts `rel_err(actual, expected) <= tol`, naming `what` on failure.
pub fn assert_close(what: &str, actual: &[f64], expected: &[f64], tol: f64) {
    assert_checks(&[Check::new(what, actual, expected, tol)]);
}

/// Prints every check and fails on the first that is out of tolerance.
pub fn assert_checks(checks: &[Check]) {
    for check in checks {
        eprintln!("{check}");
    }
    for check in checks {
        assert!(check.passed(), "{check}");
    }
}

/// The CPU autodiff backend the fused-op tests differentiate on.
pub type CpuAutodiff = burn::backend::Autodiff<burn::backend::Flex>;

/// Seeded random tensors for the tests, so a failure reproduces: every
/// draw comes from one ChaCha8 stream.
pub struct Draws(rand_chacha::ChaCha8Rng);

impl Draws {
    /// A stream seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        use rand::SeedableRng;
        Self(rand_chacha::ChaCha8Rng::seed_from_u64(seed))
    }

    /// Uniform [lo, hi) values.
    pub fn uniform_values(&mut self, count: usize, lo: f64, hi: f64) -> Vec<f64> {
        use rand::Rng;
        (0..count).map(|_| self.0.random_range(lo..hi)).collect()
    }

    /// Standard normal values.
    pub fn normal_values(&mut self, count: usize) -> Vec<f64> {
        use rand_distr::Distribution;
        (0..count)
            .map(|_| rand_distr::StandardNormal.sample(&mut self.0))
            .collect()
    }

    /// A uniform [lo, hi) f64 tensor on backend `B`'s default device.
    pub fn uniform<B: burn::tensor::backend::Backend, const D: usize>(
        &mut self,
        shape: [usize; D],
        lo: f64,
        hi: f64,
    ) -> burn::tensor::Tensor<B, D> {
        let values = self.uniform_values(shape.iter().product(), lo, hi);
        burn::tensor::Tensor::from_data(
            burn::tensor::TensorData::new(values, shape),
            (&Default::default(), burn::tensor::DType::F64),
        )
    }

    /// A standard normal tensor of `dtype` on backend `B`'s default device.
    pub fn normal<B: burn::tensor::backend::Backend, const D: usize>(
        &mut self,
        shape: [usize; D],
        dtype: burn::tensor::DType,
    ) -> burn::tensor::Tensor<B, D> {
        let values = self.normal_values(shape.iter().product());
        burn::tensor::Tensor::from_data(
            burn::tensor::TensorData::new(values, shape),
            (&Default::default(), dtype),
        )
    }

    /// A uniform [lo, hi) f64 leaf of the CPU autodiff backend that tracks
    /// its gradient.
    pub fn leaf<const D: usize>(
        &mut self,
        shape: [usize; D],
        lo: f64,
        hi: f64,
    ) -> burn::tensor::Tensor<CpuAutodiff, D> {
        self.uniform::<CpuAutodiff, D>(shape, lo, hi).require_grad()
    }
}

/// The gradient of leaf `t` in `grads`, as f64 values.
pub fn grad_values<const D: usize>(
    t: &burn::tensor::Tensor<CpuAutodiff, D>,
    grads: &<CpuAutodiff as burn::tensor::backend::AutodiffBackend>::Gradients,
) -> Vec<f64> {
    statespace::io::HostTensor::from_tensor(&t.grad(grads).expect("tracked")).data
}

/// The bits of an f32 tensor's values, to compare runs exactly.
pub fn f32_bits<B: burn::tensor::backend::Backend, const D: usize>(
    t: burn::tensor::Tensor<B, D>,
) -> Vec<u32> {
    t.into_data()
        .to_vec::<f32>()
        .expect("f32 values")
        .into_iter()
        .map(f32::to_bits)
        .collect()
}

/// burn's CPU random generator is global to the process, and every test of
/// this binary shares the process: a test that trains (which seeds it) holds
/// this turn for its whole run, so no other run reseeds the generator midway.
pub fn training_turn() -> std::sync::MutexGuard<'static, ()> {
    static TRAINING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TRAINING.lock().unwrap_or_else(|e| e.into_inner())
}

/// A training observer that prints nothing and stops the run after step
/// `stop_at` (a simulated interruption: at a checkpoint, or between
/// evaluations with one of its own), or never.
pub struct Quiet {
    pub stop_at: Option<u64>,
}

impl statespace::train::Observer for Quiet {
    fn step(&mut self, _: u64, _: u64, _: Option<(f64, f64)>) {}
    fn eval(&mut self, _: &statespace::train::MetricRow) {}
    fn should_stop(&self, step: u64) -> bool {
        self.stop_at == Some(step)
    }
    fn stop_between(&self, step: u64) -> bool {
        self.stop_at == Some(step)
    }
}

/// `words` words drawn from a short list by a fixed pseudo-random walk
/// from `seed`, written to `dir/corpus.txt`: text with structure a small
/// language model learns in a few dozen steps.
pub fn word_corpus(dir: &std::path::Path, seed: u64, words: usize) -> PathBuf {
    let list = ["state ", "space ", "model ", "scan ", "kernel "];
    let mut x = seed;
    let text: String = (0..words)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            list[(x >> 33) as usize % list.len()]
        })
        .collect();
    let path = dir.join("corpus.txt");
    std::fs::write(&path, text).unwrap();
    path
}

/// Every number of two runs' metrics agrees to `tol` (relative).
pub fn assert_close_runs(
    a: &[statespace::train::MetricRow],
    b: &[statespace::train::MetricRow],
    tol: f64,
    what: &str,
) {
    assert_eq!(a.len(), b.len(), "{what}: rows");
    for (x, y) in a.iter().zip(b) {
        assert_eq!((x.step, &x.split), (y.step, &y.split), "{what}");
        for (u, v) in [(x.loss, y.loss), (x.metric, y.metric)] {
            assert!(
                (u - v).abs() <= tol * u.abs().max(v.abs()).max(1e-3),
                "{what}: step {} {}: {u} vs {v}",
                x.step,
                x.split
            );
        }
    }
}
