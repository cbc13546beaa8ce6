//! Crash safety: `ssm train` killed (SIGKILL) at random moments while it
//! writes checkpoints every step, again and again. After every kill the last
//! checkpoint is whole and loads, and `--resume` continues; the run then
//! finishes with every metric row.

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};
use statespace::train::checkpoint;

/// Kills per test run; `SSM_KILL_TEST_KILLS` sets another count
/// (docs/RELIABILITY.md reports a long run).
const KILLS: usize = 25;
/// Training steps per kill (a kill lands every ~0.2 s; ~150 steps/s here).
const STEPS_PER_KILL: usize = 80;

const CONFIG: &str = r#"
seed = 5
[task]
kind = "listops"
min_length = 10
max_length = 30
train_size = 64
val_size = 8
test_size = 8
[model]
mixer = "s4d"
d_model = 8
n_layers = 1
d_state = 8
[schedule]
steps = STEPS
warmup = 2
batch_size = 4
eval_every = 1
"#;

fn ssm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ssm"))
}

#[test]
fn training_survives_repeated_kills_during_checkpoint_writes() {
    let root = std::env::temp_dir().join(format!("ssm-kill-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    let kills: usize = std::env::var("SSM_KILL_TEST_KILLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(KILLS);
    let steps = kills * STEPS_PER_KILL;
    let config = root.join("tiny.toml");
    std::fs::write(&config, CONFIG.replace("STEPS", &steps.to_string())).unwrap();
    let run: PathBuf = root.join("runs").join("k");
    let last = run.join("checkpoints").join("last.safetensors");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(42);
    let mut survived = 0;
    let mut resumed_from = Vec::new();
    for kill in 0..kills {
        let mut command = ssm();
        if kill == 0 {
            command
                .args(["train", "--name", "k", "--config"])
                .arg(&config)
                .arg("--runs")
                .arg(root.join("runs"));
        } else {
            command.args(["train", "--resume"]).arg(&run);
        }
        let mut child = command
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        if kill == 0 {
            // The first kill lands after the run exists (its config is written).
            let waiting = Instant::now();
            while !run.join("config.toml").is_file() && waiting.elapsed().as_secs() < 60 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(20..400)));
        let finished = child.try_wait().unwrap().is_some();
        child.kill().ok();
        child.wait().unwrap();
        if finished {
            break;
        }
        survived += 1;
        if last.is_file() {
            let info = checkpoint::info(&last)
                .unwrap_or_else(|e| panic!("kill {kill}: the last checkpoint is not whole: {e}"));
            resumed_from.push(info.step);
        }
    }
    let start = Instant::now();
    let out = ssm()
        .args(["train", "--resume"])
        .arg(&run)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the final resume failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let metrics = std::fs::read_to_string(run.join("metrics.csv")).unwrap();
    let rows: Vec<u64> = metrics
        .lines()
        .skip(1)
        .filter(|l| l.contains(",val,"))
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(
        rows,
        (1..=steps as u64).collect::<Vec<u64>>(),
        "one validation row per step"
    );
    assert!(metrics.lines().any(|l| l.contains(",test,")));
    let leftovers: Vec<_> = std::fs::read_dir(run.join("checkpoints"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .filter(|n| n.to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
    eprintln!(
        "survived {survived} kills (checkpoints at steps {resumed_from:?}); final resume took {:?}",
        start.elapsed()
    );
    assert!(
        survived >= kills / 2,
        "only {survived} kills landed during training"
    );
    std::fs::remove_dir_all(root).unwrap();
}
