//! `--host-profile FILE.svg` of `ssm bench train-lm` and `ssm train`: a
//! flamegraph of the process's CPU time over the timed steps (`ssm train`:
//! from its 20th step to the end of the run), every thread's stacks sampled
//! at 997 Hz (pprof-rs). A GPU step whose host queues its kernels no faster
//! than the device runs them (`host_ms_per_step` ≈ `ms_per_step`) spends
//! that time here: building the autodiff graph, the ops' host code, CubeCL's
//! launches and its device thread. Only builds with the `host-profile`
//! feature have the profiler; the others refuse the flag.

use std::path::{Path, PathBuf};

use anyhow::Result;

/// A running profile, written to its file by [`HostProfile::finish`].
pub struct HostProfile {
    path: PathBuf,
    #[cfg(feature = "host-profile")]
    guard: pprof::ProfilerGuard<'static>,
}

impl HostProfile {
    /// Fails, naming the flag, in builds without the `host-profile`
    /// feature: called before the work, so that a refusal costs nothing.
    pub fn check(path: &Path) -> Result<()> {
        if cfg!(feature = "host-profile") {
            Ok(())
        } else {
            anyhow::bail!(
                "--host-profile {}: this build has no host profiler (build ssm with --features host-profile)",
                path.display()
            )
        }
    }

    /// Starts sampling every thread of the process, for `path`.
    pub fn start(path: &Path) -> Result<Self> {
        Self::check(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            #[cfg(feature = "host-profile")]
            guard: pprof::ProfilerGuardBuilder::default()
                .frequency(997)
                .build()
                .map_err(|e| anyhow::anyhow!("cannot start the host profiler: {e}"))?,
        })
    }

    /// Stops sampling and writes the flamegraph (SVG) to the file, whole or
    /// not at all.
    pub fn finish(self) -> Result<()> {
        #[cfg(feature = "host-profile")]
        {
            let report = self
                .guard
                .report()
                .build()
                .map_err(|e| anyhow::anyhow!("cannot build the host profile: {e}"))?;
            let mut svg = Vec::new();
            report
                .flamegraph(&mut svg)
                .map_err(|e| anyhow::anyhow!("cannot draw the host profile: {e}"))?;
            statespace::io::write_atomic(&self.path, &svg)?;
            eprintln!("host profile: {}", self.path.display());
        }
        #[cfg(not(feature = "host-profile"))]
        let _ = self.path;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(not(feature = "host-profile"))]
    #[test]
    fn builds_without_the_profiler_refuse_the_flag_by_name() {
        let error = HostProfile::check(Path::new("step.svg"))
            .expect_err("no profiler in this build")
            .to_string();
        assert!(HostProfile::start(Path::new("step.svg")).is_err());
        assert!(error.contains("--host-profile step.svg"), "{error}");
        assert!(error.contains("--features host-profile"), "{error}");
    }

    #[cfg(feature = "host-profile")]
    #[test]
    fn writes_a_flamegraph_of_the_work_between_start_and_finish() {
        let path =
            std::env::temp_dir().join(format!("ssm-host-profile-{}.svg", std::process::id()));
        let profile = HostProfile::start(&path).unwrap();
        let start = std::time::Instant::now();
        let mut x = 0u64;
        while start.elapsed().as_millis() < 200 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        profile.finish().unwrap();
        let svg = std::fs::read_to_string(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert!(
            svg.starts_with("<?xml") && svg.contains("<svg"),
            "not an SVG"
        );
        assert!(
            svg.contains("writes_a_flamegraph"),
            "the test's own frames are missing"
        );
    }
}
