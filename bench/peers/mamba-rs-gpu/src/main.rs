//! Peer benchmark: GPU greedy decode of a mamba-130m-shaped Mamba LM in the
//! `mamba-rs` crate 0.8.2 (its own NVRTC-compiled kernels, CUDA graphs).
//!
//! The model: d_model 768, 24 layers, d_state 16, expand 2, d_conv 4,
//! dt_rank 48, RMSNorm, no input projection (rows are the embedding, as
//! for an official checkpoint), tied embedding head of 50280 tokens padded
//! to 50304 rows (as mamba-rs's HF loader pads it). Weights are random
//! (`MambaWeights::init`, fixed seed; the embedding uniform in +-0.02):
//! only the time is measured, on GPU 0 (`--device N` for another).
//!
//! For every storage precision (`--dtypes`, default `f32,bf16`; mamba-rs
//! also has `tf32` and `f16`) and batch (`--batches`, default `1,64`), in
//! mamba-rs's default `Deterministic` GEMM mode (its own GEMM kernels, no
//! cuBLAS), it prints one JSON line per row to stdout:
//!
//! - `"what": "decode"`: mamba-rs's own greedy generation loop,
//!   `MambaGpuLM::generate_batch` (a one-token prompt per sequence, then
//!   `--steps` new tokens, temperature 0, no end token). Each step is what
//!   mamba-rs does per token: the embedding rows looked up on the host and
//!   uploaded, the backbone step (one CUDA-graph launch with `graphs: true`,
//!   its kernels launched one by one with `graphs: false`), the tied head
//!   GEMM (outside the graph), a stream sync, the download of the
//!   `[batch, 50304]` f32 logits and the argmax on the host. A call of
//!   `steps` new tokens runs `steps + 1` such steps; `ms_per_step` is the
//!   call's wall time over `steps + 1`, the median of `--reps` calls after a
//!   warm-up call.
//! - `"what": "decode_backbone"`: the same backbone alone
//!   (`MambaGpuBackbone::step_gpu_only` on host rows, `steps` steps, then
//!   one stream sync), without the head, the logits download and the
//!   argmax: a lower bound of its step, for comparison with the kernels of
//!   other decoders. Median of `--reps` after a warm-up.
//!
//! `tokens_per_s` is `batch / ms_per_step` (all sequences together).
//! `setup_s` is the time to build that model on the device (the first one
//! also compiles mamba-rs's kernels with NVRTC, which it then caches under
//! `~/.cache/mamba-rs/kernels` or `$MAMBA_RS_KERNEL_CACHE`). A failing row
//! prints a JSON line with `"error"` and the run goes on.
//!
//! First use on a fresh machine is slow: on the H200 box (driver 580.159.04,
//! NVRTC 13.0) building the first model compiled mamba-rs's kernels for
//! 459 s, on one CPU core (over 530 s on another fresh machine); once the
//! caches are warm, a later process sets a model up in about 3 s and the
//! whole default run takes about 60 s. Its cache holds PTX, so a warm start
//! also needs the driver's own JIT cache (`~/.nv/ComputeCache`): carrying
//! only `~/.cache/mamba-rs/kernels` to a fresh machine was not enough
//! (still compiling after 150 s).
//!
//! usage: mamba-rs-decode [--dtypes f32,bf16] [--batches 1,64] [--steps 128]
//!                        [--reps 5] [--device 0] [--no-backbone] [--no-eager]

use std::io::Write;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::time::Instant;

use mamba_rs::module::sample::SampleParams;
use mamba_rs::{
    GemmMode, GpuBackbone, GpuOptions, MambaBackbone, MambaConfig, MambaGpuBackbone, MambaGpuLM,
    MambaWeights, WeightDtype,
};

const PEER: &str = "mamba-rs 0.8.2";
const MODEL: &str = "mamba-130m";
const D_MODEL: usize = 768;
const N_LAYERS: usize = 24;
const VOCAB: usize = 50280;
/// mamba-rs's HF loader pads the embedding rows to a multiple of 64.
const VOCAB_PADDED: usize = VOCAB.div_ceil(64) * 64;

struct Args {
    dtypes: Vec<String>,
    batches: Vec<usize>,
    steps: usize,
    reps: usize,
    device: usize,
    backbone: bool,
    eager: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        dtypes: vec!["f32".into(), "bf16".into()],
        batches: vec![1, 64],
        steps: 128,
        reps: 5,
        device: 0,
        backbone: true,
        eager: true,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--dtypes" => a.dtypes = value()?.split(',').map(str::to_string).collect(),
            "--batches" => {
                a.batches = value()?
                    .split(',')
                    .map(|s| s.parse().map_err(|e| format!("--batches {s}: {e}")))
                    .collect::<Result<_, _>>()?
            }
            "--steps" => a.steps = value()?.parse().map_err(|e| format!("--steps: {e}"))?,
            "--reps" => a.reps = value()?.parse().map_err(|e| format!("--reps: {e}"))?,
            "--device" => a.device = value()?.parse().map_err(|e| format!("--device: {e}"))?,
            "--no-backbone" => a.backbone = false,
            "--no-eager" => a.eager = false,
            "-h" | "--help" => {
                return Err("usage: mamba-rs-decode [--dtypes f32,bf16] [--batches 1,64] \
                            [--steps 128] [--reps 5] [--device 0] [--no-backbone] [--no-eager]"
                    .into());
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    a.steps = a.steps.max(1);
    a.reps = a.reps.max(1);
    Ok(a)
}

fn dtype_of(name: &str) -> Result<WeightDtype, String> {
    match name {
        "f32" => Ok(WeightDtype::F32),
        "tf32" => Ok(WeightDtype::Tf32),
        "bf16" => Ok(WeightDtype::Bf16),
        "f16" => Ok(WeightDtype::F16),
        _ => Err(format!("unknown dtype {name} (f32, tf32, bf16, f16)")),
    }
}

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn emit(line: String) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

fn emit_error(what: &str, dtype: &str, batch: Option<usize>, graphs: Option<bool>, err: &str) {
    let mut line = format!(
        "{{\"what\": {}, \"peer\": {}, \"model\": {}, \"dtype\": {}",
        json_str(what),
        json_str(PEER),
        json_str(MODEL),
        json_str(dtype)
    );
    if let Some(b) = batch {
        line.push_str(&format!(", \"batch\": {b}"));
    }
    if let Some(g) = graphs {
        line.push_str(&format!(", \"graphs\": {g}"));
    }
    line.push_str(&format!(", \"error\": {}}}", json_str(err)));
    emit(line);
}

struct Row<'a> {
    what: &'a str,
    dtype: &'a str,
    batch: usize,
    graphs: bool,
    steps: usize,
    times_ms: Vec<f64>,
    setup_s: f64,
}

fn emit_row(r: Row<'_>) {
    let mut t = r.times_ms.clone();
    t.sort_by(f64::total_cmp);
    let med = t[t.len() / 2];
    let reps: Vec<String> = r.times_ms.iter().map(|x| format!("{x:.4}")).collect();
    emit(format!(
        "{{\"what\": {}, \"peer\": {}, \"model\": {}, \"dtype\": {}, \"batch\": {}, \"graphs\": {}, \
         \"gemm_mode\": \"deterministic\", \"steps\": {}, \"ms_per_step\": {:.4}, \
         \"tokens_per_s\": {:.1}, \"ms_per_step_reps\": [{}], \"setup_s\": {:.2}}}",
        json_str(r.what),
        json_str(PEER),
        json_str(MODEL),
        json_str(r.dtype),
        r.batch,
        r.graphs,
        r.steps,
        med,
        r.batch as f64 * 1e3 / med,
        reps.join(", "),
        r.setup_s
    ));
}

/// Where the last panic happened, kept by the quiet panic hook (stdout
/// stays JSON lines even when the caller merges stderr into it).
static PANIC_AT: Mutex<Option<String>> = Mutex::new(None);

/// Run `f`, turning a panic (mamba-rs asserts, cudarc failing to dlopen a
/// CUDA library) into an error string.
fn guarded<T>(f: impl FnOnce() -> Result<T, String>) -> Result<T, String> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(p) => {
            let msg = if let Some(s) = p.downcast_ref::<&str>() {
                (*s).to_string()
            } else if let Some(s) = p.downcast_ref::<String>() {
                s.clone()
            } else {
                "(no message)".into()
            };
            let at = PANIC_AT
                .lock()
                .ok()
                .and_then(|mut g| g.take())
                .unwrap_or_default();
            Err(format!("panic at {at}: {msg}"))
        }
    }
}

fn config() -> MambaConfig {
    MambaConfig {
        d_model: D_MODEL,
        d_state: 16,
        d_conv: 4,
        expand: 2,
        n_layers: N_LAYERS,
        dt_rank: Some(48),
        rms_norm_eps: 1e-5,
        proj_bias: false,
        conv_bias: true,
        d_intermediate: 0,
        final_norm: true,
        ..MambaConfig::default()
    }
}

/// Random mamba-130m-shaped weights without an input projection, checked
/// and completed (`a_neg`) by the CPU backbone, as the HF loader does.
fn weights(cfg: &MambaConfig) -> Result<MambaWeights, String> {
    let mut w = MambaWeights::init(cfg, D_MODEL, 0x130);
    w.input_proj_w.clear();
    w.input_proj_b.clear();
    Ok(MambaBackbone::new(w, *cfg, D_MODEL)?.into_weights())
}

/// The tied embedding `[VOCAB_PADDED, D_MODEL]`, uniform in +-0.02, the
/// padding rows zero.
fn embedding() -> Vec<f32> {
    let mut e = vec![0.0f32; VOCAB_PADDED * D_MODEL];
    let mut s: u64 = 0x9E37_79B9_7F4A_7C15;
    for x in &mut e[..VOCAB * D_MODEL] {
        s = s
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let u = (s >> 40) as f32 / (1u64 << 24) as f32; // [0, 1)
        *x = (u * 2.0 - 1.0) * 0.02;
    }
    e
}

fn opts(device: usize, dtype: WeightDtype) -> GpuOptions {
    GpuOptions::default()
        .device(device)
        .dtype(dtype)
        .mode(GemmMode::Deterministic)
}

/// `MambaGpuLM::generate_batch` rows (eager, then graphs).
fn bench_lm(
    a: &Args,
    cfg: &MambaConfig,
    w: &MambaWeights,
    embed: &[f32],
    (name, dtype, batch): (&str, WeightDtype, usize),
) -> Result<(), String> {
    let t0 = Instant::now();
    let bb = MambaGpuBackbone::new(w, *cfg, D_MODEL, batch, opts(a.device, dtype))?;
    let mut lm = MambaGpuLM::new(bb, embed.to_vec(), None, VOCAB)?;
    let setup_s = t0.elapsed().as_secs_f64();
    let prompts_owned: Vec<Vec<u32>> = (0..batch)
        .map(|i| vec![(i * 7919 % 50000) as u32])
        .collect();
    let prompts: Vec<&[u32]> = prompts_owned.iter().map(|p| p.as_slice()).collect();
    let params = |n: usize| -> Vec<SampleParams> {
        (0..batch)
            .map(|_| SampleParams {
                temperature: 0.0,
                max_tokens: n,
                eos_token_ids: vec![],
                ..SampleParams::default()
            })
            .collect()
    };
    let (warm, timed) = (params(8), params(a.steps));
    let run = |lm: &mut MambaGpuLM, graphs: bool| -> Result<(), String> {
        lm.generate_batch(&prompts, &warm)?;
        let mut times = Vec::with_capacity(a.reps);
        for _ in 0..a.reps {
            let t = Instant::now();
            let out = lm.generate_batch(&prompts, &timed)?;
            let dt = t.elapsed().as_secs_f64();
            if out.iter().any(|o| o.len() != a.steps) {
                return Err("generate_batch returned fewer tokens than asked".into());
            }
            times.push(dt * 1e3 / (a.steps + 1) as f64);
        }
        emit_row(Row {
            what: "decode",
            dtype: name,
            batch,
            graphs,
            steps: a.steps + 1,
            times_ms: times,
            setup_s,
        });
        Ok(())
    };
    if a.eager {
        if let Err(e) = guarded(|| run(&mut lm, false)) {
            emit_error("decode", name, Some(batch), Some(false), &e);
        }
    }
    if let Err(e) = guarded(|| {
        lm.capture_graph()?;
        run(&mut lm, true)
    }) {
        emit_error("decode", name, Some(batch), Some(true), &e);
    }
    Ok(())
}

/// `MambaGpuBackbone::step_gpu_only` rows (eager, then graphs).
fn bench_backbone(
    a: &Args,
    cfg: &MambaConfig,
    w: &MambaWeights,
    embed: &[f32],
    (name, dtype, batch): (&str, WeightDtype, usize),
) -> Result<(), String> {
    let t0 = Instant::now();
    let mut bb = MambaGpuBackbone::new(w, *cfg, D_MODEL, batch, opts(a.device, dtype))?;
    let setup_s = t0.elapsed().as_secs_f64();
    let mut input = vec![0.0f32; batch * D_MODEL];
    for i in 0..batch {
        let tok = i * 7919 % 50000;
        input[i * D_MODEL..(i + 1) * D_MODEL]
            .copy_from_slice(&embed[tok * D_MODEL..(tok + 1) * D_MODEL]);
    }
    let run = |bb: &mut MambaGpuBackbone, graphs: bool| -> Result<(), String> {
        let steps = |bb: &mut MambaGpuBackbone, n: usize| -> Result<f64, String> {
            bb.reset()?;
            bb.stream()
                .synchronize()
                .map_err(|e| format!("sync: {e:?}"))?;
            let t = Instant::now();
            for _ in 0..n {
                GpuBackbone::step_gpu_only(bb, &input)?;
            }
            bb.stream()
                .synchronize()
                .map_err(|e| format!("sync: {e:?}"))?;
            Ok(t.elapsed().as_secs_f64())
        };
        steps(bb, 8)?;
        let mut times = Vec::with_capacity(a.reps);
        for _ in 0..a.reps {
            times.push(steps(bb, a.steps)? * 1e3 / a.steps as f64);
        }
        emit_row(Row {
            what: "decode_backbone",
            dtype: name,
            batch,
            graphs,
            steps: a.steps,
            times_ms: times,
            setup_s,
        });
        Ok(())
    };
    if a.eager {
        if let Err(e) = guarded(|| run(&mut bb, false)) {
            emit_error("decode_backbone", name, Some(batch), Some(false), &e);
        }
    }
    if let Err(e) = guarded(|| {
        GpuBackbone::capture_graph(&mut bb)?;
        run(&mut bb, true)
    }) {
        emit_error("decode_backbone", name, Some(batch), Some(true), &e);
    }
    Ok(())
}

fn main() {
    std::panic::set_hook(Box::new(|info| {
        if let Ok(mut g) = PANIC_AT.lock() {
            *g = info.location().map(|l| format!("{}:{}", l.file(), l.line()));
        }
    }));
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            emit_error("decode", "-", None, None, &e);
            std::process::exit(2);
        }
    };
    let cfg = config();
    let prep = guarded(|| Ok((weights(&cfg)?, embedding())));
    let (w, embed) = match prep {
        Ok(x) => x,
        Err(e) => {
            emit_error("decode", "-", None, None, &format!("building the weights: {e}"));
            std::process::exit(1);
        }
    };
    for name in &a.dtypes {
        let dtype = match dtype_of(name) {
            Ok(d) => d,
            Err(e) => {
                emit_error("decode", name, None, None, &e);
                continue;
            }
        };
        for &batch in &a.batches {
            let key = (name.as_str(), dtype, batch);
            if let Err(e) = guarded(|| bench_lm(&a, &cfg, &w, &embed, key)) {
                emit_error("decode", name, Some(batch), None, &e);
            }
            if a.backbone
                && let Err(e) = guarded(|| bench_backbone(&a, &cfg, &w, &embed, key))
            {
                emit_error("decode_backbone", name, Some(batch), None, &e);
            }
        }
    }
}
