//! The `ssm` binary end to end: what a user runs and sees.

use std::path::PathBuf;
use std::process::Command;

fn ssm() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ssm"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ssm-cli-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The output of `command`, which must succeed (its stderr shown if not).
fn run_ok(command: &mut Command) -> std::process::Output {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn hippo_on_builtin_signal_prints_error_and_writes_png() {
    let dir = scratch("hippo");
    let png = dir.join("legs.png");
    let out = run_ok(
        ssm()
            .args(["hippo", "--measure", "legs", "--n", "32", "--output"])
            .arg(&png),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let error: f64 = stdout
        .split("relative L2 error ")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no error printed: {stdout}"));
    assert!(error < 0.05, "LegS N=32 reconstruction error {error}");
    let bytes = std::fs::read(&png).unwrap();
    assert_eq!(&bytes[1..4], b"PNG");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn hippo_reads_csv_and_rejects_bad_csv() {
    let dir = scratch("csv");
    let good = dir.join("signal.csv");
    let values: Vec<String> = (0..200)
        .map(|i| format!("{i},{}", (i as f64 * 0.05).sin()))
        .collect();
    std::fs::write(&good, format!("t,value\n{}\n", values.join("\n"))).unwrap();
    let out = run_ok(
        ssm()
            .args(["hippo", "--measure", "legt", "--n", "16", "--input"])
            .arg(&good)
            .arg("--output")
            .arg(dir.join("p.png")),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("200 samples"));

    let bad = dir.join("bad.csv");
    std::fs::write(&bad, "1.0\n2.0\nthree\n").unwrap();
    let out = ssm().args(["hippo", "--input"]).arg(&bad).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("bad.csv:3") && stderr.contains("three"),
        "{stderr}"
    );

    let out = ssm().args(["hippo", "--measure", "legx"]).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown HiPPO measure"));
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn selftest_passes_on_cpu() {
    let out = ssm()
        .args(["selftest", "--device", "cpu"])
        .current_dir(repo_root())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(" passed, 0 failed"), "{stdout}");
}

#[test]
fn selftest_names_a_missing_golden_folder() {
    let missing = std::env::temp_dir().join("ssm-no-golden-folder-here");
    let out = ssm()
        .args(["selftest", "--device", "cpu", "--golden"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("golden folder") && stderr.contains("ssm-no-golden-folder-here"),
        "{stderr}"
    );
}

#[cfg(not(feature = "cuda"))]
#[test]
fn cuda_without_cuda_build_is_a_clear_error() {
    let out = ssm()
        .args(["selftest", "--device", "cuda"])
        .current_dir(repo_root())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--features cuda"));
}

fn golden() -> PathBuf {
    std::env::var_os("SSM_GOLDEN_DIR")
        .map(|d| {
            let d = PathBuf::from(d);
            if d.is_absolute() {
                d
            } else {
                repo_root().join(d)
            }
        })
        .unwrap_or_else(|| repo_root().join("../shared/golden"))
}

#[test]
fn eval_scores_a_text_with_a_checkpoint_in_chunks_carrying_the_state() {
    let dir = scratch("eval-text");
    let text = dir.join("text.txt");
    std::fs::write(
        &text,
        "The state space model reads a long text one chunk at a time.\n",
    )
    .unwrap();
    let score = |chunk: &str| {
        let out = run_ok(
            ssm()
                .args(["eval", "--byte-level", "--chunk", chunk, "--model"])
                .arg(golden().join("hf_mamba"))
                .arg("--text")
                .arg(&text),
        );
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(stdout.contains("60 tokens scored"), "{stdout}");
        let nats: f64 = stdout
            .split(" nats per token")
            .next()
            .and_then(|s| s.rsplit(' ').next())
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("{stdout}"));
        nats
    };
    // One chunk or nine: the same score, to f32 rounding.
    let (whole, chunked) = (score("4096"), score("7"));
    assert!(
        (whole - chunked).abs() < 1e-5 * whole,
        "{whole} vs {chunked}"
    );
    // Without a tokenizer.json the folder needs --byte-level.
    let err = fails_cleanly(
        &[
            "eval".as_ref(),
            "--model".as_ref(),
            golden().join("hf_mamba").as_os_str(),
            "--text".as_ref(),
            text.as_os_str(),
        ],
        "tokenizer.json",
    );
    assert!(err.contains("byte-level"), "{err}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn info_describes_both_layouts() {
    for (folder, layout, mixer) in [
        ("hf_mamba", "Hugging Face", "Mamba ("),
        ("native_mamba2", "state-spaces/mamba", "Mamba-2"),
    ] {
        let out = run_ok(ssm().arg("info").arg(golden().join(folder)));
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains(layout) && stdout.contains(mixer),
            "{stdout}"
        );
        assert!(stdout.contains("parameters:"), "{stdout}");
    }
}

#[test]
fn generate_streams_bytes_and_requires_a_tokenizer_or_byte_level() {
    let out = run_ok(
        ssm()
            .args([
                "generate",
                "--prompt",
                "hi",
                "--max-tokens",
                "5",
                "--byte-level",
                "--model",
            ])
            .arg(golden().join("native_mamba")),
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("hi"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("decoded 5 tokens"));

    let out = ssm()
        .args(["generate", "--prompt", "hi", "--model"])
        .arg(golden().join("hf_mamba"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--byte-level"));

    let empty = scratch("nolayout");
    std::fs::write(empty.join("config.json"), "{\"foo\": 1}").unwrap();
    let out = ssm().args(["info"]).arg(&empty).output().unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither a Hugging Face config"));
    std::fs::remove_dir_all(empty).unwrap();
}

#[test]
fn train_writes_a_run_folder_and_eval_checks_the_recurrent_view() {
    let runs = scratch("runs");
    let out = run_ok(
        ssm()
            .args(["train", "--name", "tiny", "--runs"])
            .arg(&runs)
            .args([
                "--set",
                "schedule.steps=6",
                "--set",
                "schedule.eval_every=3",
                "--set",
                "schedule.batch_size=4",
                "--set",
                "task.min_length=10",
                "--set",
                "task.max_length=30",
                "--set",
                "task.train_size=32",
                "--set",
                "task.val_size=8",
                "--set",
                "task.test_size=8",
                "--set",
                "model.d_model=8",
                "--set",
                "model.n_layers=1",
                "--set",
                "model.d_state=8",
            ]),
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("test accuracy"));
    let run = runs.join("tiny");
    for file in [
        "config.toml",
        "metrics.csv",
        "loss.png",
        "accuracy.png",
        "checkpoints/best.safetensors",
        "checkpoints/last.safetensors",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    let out = run_ok(ssm().arg("eval").arg(&run));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("8/8 predictions equal"), "{stdout}");
    // The slow step-by-step check says what it does before it starts.
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("recurrent check: 8 test examples run step by step"),
        "{stderr}"
    );

    // `--set` evaluates the run on other test settings (longer sequences);
    // a key that changes the model's shape fails to load, naming the tensor.
    let out = run_ok(ssm().arg("eval").arg(&run).args([
        "--recurrent-examples",
        "0",
        "--set",
        "task.max_length=60",
        "--set",
        "task.test_size=4",
    ]));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("over 4 examples, best checkpoint with task.max_length=60")
            && stdout.contains("recurrent check skipped"),
        "{stdout}"
    );
    let out = ssm()
        .arg("eval")
        .arg(&run)
        .args(["--set", "model.d_model=16"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("expected shape"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A second run under the same name is refused rather than overwritten.
    let out = ssm()
        .args(["train", "--name", "tiny", "--runs"])
        .arg(&runs)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already holds a run"));
    std::fs::remove_dir_all(runs).unwrap();
}

/// A forecast run: SpaceTime on a slice of ETTh1 (shipped in the binary)
/// writes the MSE / MAE curves, and `ssm eval` reports the test MSE and
/// draws forecast-vs-truth plots.
#[test]
fn lm_run_trains_evaluates_and_generates() {
    let runs = scratch("lm");
    let corpus = runs.join("corpus.txt");
    let text: String = (0..400)
        .map(|i| ["state ", "space ", "model "][i % 3])
        .collect();
    std::fs::write(&corpus, text).unwrap();
    let config = repo_root().join("configs/lm-fortunes-mamba.toml");
    let out = run_ok(
        ssm()
            .args(["train", "--name", "lm", "--runs"])
            .arg(&runs)
            .arg("--config")
            .arg(&config)
            .arg("--set")
            .arg(format!("task.path=\"{}\"", corpus.display()))
            .args([
                "--set",
                "task.seq_len=32",
                "--set",
                "model.d_model=16",
                "--set",
                "model.n_layers=1",
                "--set",
                "schedule.steps=4",
                "--set",
                "schedule.warmup=1",
                "--set",
                "schedule.eval_every=2",
                "--set",
                "schedule.batch_size=4",
            ]),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("bits_per_byte"), "{stdout}");
    let run = runs.join("lm");
    for file in ["metrics.csv", "loss.png", "bits_per_byte.png"] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    let out = run_ok(ssm().arg("eval").arg(&run));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("test bits per byte"), "{stdout}");
    // `ssm info` describes a run folder too.
    let out = run_ok(ssm().arg("info").arg(&run));
    let stdout = String::from_utf8_lossy(&out.stdout);
    for expected in [
        "statespace training run",
        "task:         lm",
        "steps:        4 of 4",
        "bits_per_byte",
    ] {
        assert!(stdout.contains(expected), "{expected}: {stdout}");
    }
    // --stop-after 0 ends a run at its first checkpoint; --resume finishes it.
    let out = run_ok(
        ssm()
            .args(["train", "--name", "short", "--stop-after", "0", "--runs"])
            .arg(&runs)
            .arg("--config")
            .arg(run.join("config.toml")),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("stopped after step 2"), "{stdout}");
    let out = run_ok(ssm().arg("train").arg("--resume").arg(runs.join("short")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("trained 4 steps"), "{stdout}");
    // --stop-before 0: the next checkpoint would be late at the first one.
    let out = run_ok(
        ssm()
            .args(["train", "--name", "before", "--stop-before", "0", "--runs"])
            .arg(&runs)
            .arg("--config")
            .arg(run.join("config.toml")),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("stopped after step 2 (--stop-before, at a checkpoint)"),
        "{stdout}"
    );
    let out = ssm()
        .args(["train", "--stop-before", "1", "--stop-after", "1"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("cannot be used with"),
        "{stderr}"
    );
    // --devices 2: two data-parallel ranks on halves of each batch of 4.
    let out = run_ok(
        ssm()
            .args(["train", "--name", "dp", "--devices", "2", "--runs"])
            .arg(&runs)
            .arg("--config")
            .arg(run.join("config.toml")),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("trained 4 steps"), "{stdout}");
    let out = ssm()
        .args(["train", "--name", "dp3", "--devices", "3", "--runs"])
        .arg(&runs)
        .arg("--config")
        .arg(run.join("config.toml"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains("schedule.batch_size"),
        "{stderr}"
    );
    // --split sequence: three ranks on parts of every sequence of 32 (the
    // batch of 4 need not split).
    let out = run_ok(
        ssm()
            .args([
                "train",
                "--name",
                "sp3",
                "--devices",
                "3",
                "--split",
                "sequence",
            ])
            .arg("--runs")
            .arg(&runs)
            .arg("--config")
            .arg(run.join("config.toml")),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("trained 4 steps"), "{stdout}");
    let out = run_ok(
        ssm()
            .args([
                "generate",
                "--prompt",
                "state ",
                "--max-tokens",
                "8",
                "--run",
            ])
            .arg(&run),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("state ") && stdout.len() > 6, "{stdout}");
    // A classification run is not a language model.
    let err = String::from_utf8_lossy(
        &ssm()
            .args(["generate", "--prompt", "x", "--run"])
            .arg(repo_root().join("configs"))
            .output()
            .unwrap()
            .stderr,
    )
    .into_owned();
    assert!(err.contains("config.toml"), "{err}");
    std::fs::remove_dir_all(runs).unwrap();
}

#[test]
fn eval_checks_the_recurrent_view_of_a_step_target_task() {
    // Selective copying scores several target steps per example: the check
    // batches examples and compares each one's own rows of logits.
    let runs = scratch("runs-steps");
    let config = repo_root().join("configs/selective-copying-mamba.toml");
    let mut args: Vec<String> = ["train", "--name", "copy", "--config"]
        .map(String::from)
        .to_vec();
    args.push(config.display().to_string());
    for set in [
        "task.length=12",
        "task.tokens=3",
        "model.d_model=8",
        "model.n_layers=1",
        "schedule.steps=2",
        "schedule.warmup=1",
        "schedule.eval_every=2",
        "schedule.batch_size=4",
        "task.val_size=4",
        "task.test_size=6",
    ] {
        args.push("--set".into());
        args.push(set.into());
    }
    run_ok(ssm().args(&args).arg("--runs").arg(&runs));
    let out = run_ok(ssm().arg("eval").arg(runs.join("copy")));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("over 6 examples") && stdout.contains("6/6 predictions equal"),
        "{stdout}"
    );
}

#[test]
fn forecast_run_writes_curves_and_eval_draws_forecasts() {
    let runs = scratch("forecast");
    let config = repo_root().join("configs/etth1-spacetime.toml");
    let out = run_ok(
        ssm()
            .args(["train", "--name", "st", "--runs"])
            .arg(&runs)
            .arg("--config")
            .arg(&config)
            .args([
                "--set",
                "task.lag=72",
                "--set",
                "task.horizon=8",
                "--set",
                "task.splits=[400, 120, 120]",
                "--set",
                "model.d_model=16",
                "--set",
                "schedule.steps=4",
                "--set",
                "schedule.warmup=1",
                "--set",
                "schedule.eval_every=2",
                "--set",
                "schedule.batch_size=16",
            ]),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("test mse"), "{stdout}");
    let run = runs.join("st");
    for file in [
        "metrics.csv",
        "mse.png",
        "mae.png",
        "checkpoints/best.safetensors",
    ] {
        assert!(run.join(file).is_file(), "{file} missing");
    }
    let out = run_ok(ssm().arg("eval").arg(&run));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("test mse") && stdout.contains("113 windows"),
        "{stdout}"
    );
    for index in [0, 56, 112] {
        let png = run.join(format!("forecast-test-{index}.png"));
        assert!(png.is_file(), "{} missing", png.display());
    }
    std::fs::remove_dir_all(runs).unwrap();
}

#[test]
fn train_rejects_unknown_config_keys() {
    let out = ssm()
        .args(["train", "--set", "model.widht=3", "--runs"])
        .arg(scratch("bad"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("widht"));
}

/// A build without the profiler refuses `ssm train --host-profile` before
/// it starts the run: no run folder is written.
#[cfg(not(feature = "host-profile"))]
#[test]
fn train_refuses_a_host_profile_without_the_profiler() {
    let runs = scratch("no-profiler");
    let stderr = fails_cleanly(
        &[
            "train".as_ref(),
            "--host-profile".as_ref(),
            "loop.svg".as_ref(),
            "--name".as_ref(),
            "p".as_ref(),
            "--runs".as_ref(),
            runs.as_os_str(),
        ],
        "--host-profile loop.svg",
    );
    assert!(stderr.contains("--features host-profile"), "{stderr}");
    assert!(!runs.join("p").exists());
}

/// Runs `ssm` with `args`, expecting a clean failure (exit 1, a message
/// containing `expected`, no panic): returns stderr.
fn fails_cleanly(args: &[&std::ffi::OsStr], expected: &str) -> String {
    let start = std::time::Instant::now();
    let out = ssm().args(args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "{args:?}: {stderr}");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("internal error"),
        "{stderr}"
    );
    assert!(
        start.elapsed().as_secs() < 60,
        "{args:?} took {:?}",
        start.elapsed()
    );
    stderr
}

#[test]
fn hostile_hippo_inputs_are_clear_errors() {
    let dir = scratch("hostile-hippo");
    fails_cleanly(
        &["hippo".as_ref(), "--n".as_ref(), "100000".as_ref()],
        "state size 100000",
    );
    let huge = dir.join("huge.csv");
    std::fs::write(&huge, "1e308\n-1e308\n1.7e308\n").unwrap();
    fails_cleanly(
        &["hippo".as_ref(), "--input".as_ref(), huge.as_os_str()],
        "exceeds",
    );
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn info_on_impossible_configs_is_a_clear_error() {
    let dir = scratch("hostile-info");
    for (tag, size) in [("max", u64::MAX), ("big", 1_000_000_000)] {
        let folder = dir.join(tag);
        std::fs::create_dir_all(&folder).unwrap();
        for entry in std::fs::read_dir(golden().join("hf_mamba")).unwrap() {
            let entry = entry.unwrap();
            std::fs::copy(entry.path(), folder.join(entry.file_name())).unwrap();
        }
        let text = std::fs::read_to_string(folder.join("config.json")).unwrap();
        let mut config: serde_json::Value = serde_json::from_str(&text).unwrap();
        config["hidden_size"] = serde_json::json!(size);
        std::fs::write(folder.join("config.json"), config.to_string()).unwrap();
        fails_cleanly(&["info".as_ref(), folder.as_os_str()], "config");
    }
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn generate_reads_a_long_prompt_from_a_file() {
    let dir = scratch("prompt-file");
    let prompt = dir.join("prompt.txt");
    std::fs::write(&prompt, "state space ".repeat(2000)).unwrap();
    let out = run_ok(
        ssm()
            .args([
                "generate",
                "--max-tokens",
                "2",
                "--byte-level",
                "--prompt-file",
            ])
            .arg(&prompt)
            .arg("--model")
            .arg(golden().join("native_mamba")),
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("prefill 24000 tokens"));
    std::fs::write(&prompt, [0xff, 0xfe, 0x00]).unwrap();
    fails_cleanly(
        &[
            "generate".as_ref(),
            "--byte-level".as_ref(),
            "--prompt-file".as_ref(),
            prompt.as_os_str(),
            "--model".as_ref(),
            golden().join("native_mamba").as_os_str(),
        ],
        "not UTF-8",
    );
    std::fs::remove_dir_all(dir).unwrap();
}

/// Every `ssm bench` subcommand runs to the end at small sizes and prints
/// its JSON line (the speeds themselves are benchmarks, not tests).
#[test]
fn every_bench_subcommand_runs_at_small_sizes() {
    let cases: [(&[&str], &[&str]); 6] = [
        (
            &[
                "bench",
                "train",
                "--batch",
                "2",
                "--len",
                "16",
                "--d-model",
                "8",
                "--layers",
                "1",
                "--steps",
                "1",
            ],
            &["\"what\": \"train_step\""],
        ),
        (
            &[
                "bench", "generate", "--prompt", "4", "--decode", "2", "--layers", "1",
            ],
            &[
                "\"model\": \"mamba-130m\"",
                "\"model\": \"mamba2-130m\"",
                "\"model\": \"mamba3-130m\"",
                "\"model\": \"mamba3-mimo-130m\"",
                "decode_tok_s",
            ],
        ),
        (
            &[
                "bench",
                "train-lm",
                "--model",
                "mamba2-130m",
                "--batch",
                "1",
                "--len",
                "4",
                "--steps",
                "1",
                "--layers",
                "1",
            ],
            &["\"what\": \"train_lm\"", "tokens_per_s"],
        ),
        (
            &[
                "bench",
                "train-lm",
                "--model",
                "mamba2-130m",
                "--batch",
                "1",
                "--len",
                "6",
                "--steps",
                "1",
                "--layers",
                "1",
                "--devices",
                "2",
                "--split",
                "sequence",
            ],
            &["\"devices\": 2, \"split\": \"sequence\"", "tokens_per_s"],
        ),
        (
            &[
                "bench", "decode", "--batch", "2", "--tokens", "2", "--layers", "1",
            ],
            &["\"what\": \"decode\"", "\"batch\": 2"],
        ),
        (
            &["bench", "kernels", "--smoke"],
            &[
                "statespace.selective_scan",
                "statespace.ssd",
                "statespace.fftconv",
                "statespace.s4d_kernel",
                "statespace.cauchy",
                "statespace.matmul_f32",
            ],
        ),
    ];
    let config = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../configs/etth1-chimera.toml"
    );
    let forecast: &[&str] = &[
        "bench",
        "forecast",
        "--config",
        config,
        "--set",
        "task.lag=8",
        "--set",
        "task.horizon=4",
        "--set",
        "model.d_model=4",
        "--set",
        "model.n_layers=1",
        "--set",
        "schedule.batch_size=2",
        "--steps",
        "1",
    ];
    let cases = cases.into_iter().chain([(
        forecast,
        &["\"what\": \"forecast_step\"", "\"mixer\": \"Chimera\""][..],
    )]);
    for (args, expected) in cases {
        let out = ssm().args(args).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        for needle in expected {
            assert!(
                stdout.contains(needle),
                "{args:?}: {needle} not in {stdout}"
            );
        }
    }
    let out = ssm()
        .args(["bench", "decode", "--layers", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--layers"));
}

/// A count below what its measurement needs (`--batch 0`, a language
/// model's `--len 1`, ...) is refused naming the flag: `bench train
/// --batch 0` used to panic in the batcher, and the others were raised to
/// the minimum without a word (or divided by zero: `decode --tokens 0`).
#[test]
fn bench_counts_below_their_minimum_are_refused_naming_the_flag() {
    let cases: [(&[&str], &str); 8] = [
        (
            &["bench", "train", "--batch", "0"],
            "'--batch <BATCH>': must be at least 1",
        ),
        (
            &["bench", "train", "--len", "0"],
            "'--len <LEN>': must be at least 1",
        ),
        (
            &["bench", "train", "--steps", "0"],
            "'--steps <STEPS>': must be at least 1",
        ),
        (
            &["bench", "train-lm", "--len", "1"],
            "'--len <LEN>': must be at least 2",
        ),
        (
            &["bench", "decode", "--tokens", "0"],
            "'--tokens <TOKENS>': must be at least 1",
        ),
        (
            &["generate", "--prefill-chunk", "0"],
            "'--prefill-chunk <PREFILL_CHUNK>': must be at least 1",
        ),
        (
            &["train", "--devices", "0"],
            "'--devices <N>': must be at least 1",
        ),
        (&["hippo", "--n", "0"], "'--n <N>': must be at least 1"),
    ];
    for (args, expected) in cases {
        let out = ssm().args(args).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} succeeded");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(
            !stderr.contains("panicked") && !stderr.contains("internal error"),
            "{stderr}"
        );
    }
}

/// `ssm generate` with the folder's `tokenizer.json` (a word-level
/// vocabulary `w0` … `w{V−1}`): the prompt is encoded by the tokenizer, and
/// the text printed is the tokenizer's decoding of exactly the greedy tokens
/// the library generates from those ids.
#[test]
fn generate_encodes_and_decodes_with_the_folders_tokenizer() {
    use burn::backend::Flex;
    use statespace::generate::{Generator, Sampling};
    let golden = golden().join("native_mamba");
    let dir = scratch("tokenizer");
    for entry in std::fs::read_dir(&golden).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
    }
    let ckpt = statespace::models::pretrained::load::<Flex>(&dir, &Default::default()).unwrap();
    let vocab: serde_json::Map<String, serde_json::Value> = (0..ckpt.vocab_size)
        .map(|i| (format!("w{i}"), i.into()))
        .collect();
    let tokenizer = serde_json::json!({
        "version": "1.0",
        "truncation": null,
        "padding": null,
        "added_tokens": [],
        "normalizer": null,
        "pre_tokenizer": {"type": "Whitespace"},
        "post_processor": null,
        "decoder": null,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "w0"}
    });
    std::fs::write(dir.join("tokenizer.json"), tokenizer.to_string()).unwrap();

    let prompt = [17i64, 200, 3];
    let mut generator = Generator::new(
        &ckpt.model,
        &prompt,
        Sampling::default(),
        512,
        &Default::default(),
    )
    .unwrap()
    .with_vocabulary(ckpt.vocab_size)
    .unwrap();
    let tokens: Vec<i64> = (0..6).map(|_| generator.next_token().unwrap()).collect();
    let expected: Vec<String> = prompt
        .iter()
        .chain(&tokens)
        .map(|t| format!("w{t}"))
        .collect();

    let out = run_ok(
        ssm()
            .args([
                "generate",
                "--prompt",
                "w17 w200 w3",
                "--max-tokens",
                "6",
                "--model",
            ])
            .arg(&dir),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim_end(),
        expected.join(" ")
    );
    // A tokenizer.json that is not one is a clear error naming the file.
    std::fs::write(dir.join("tokenizer.json"), "{\"model\": 7}").unwrap();
    let out = ssm()
        .args(["generate", "--prompt", "w1", "--model"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("tokenizer.json"));
    std::fs::remove_dir_all(dir).unwrap();
}
