#!/usr/bin/env bash
# Generation benchmarks, batch 1, random weights, mamba-130m and mamba2-130m shapes, this CPU.
# Prints JSON lines on stdout (also appended to results/generate_peers-<timestamp>.jsonl);
# progress and peers' logs go to stderr.
#
#   transformers (PyTorch CPU, pure-torch path, f32, 2 threads)  bench_transformers.py
#   llama.cpp llama-bench (f32 and f16 GGUF, -t 2)                bench_llamacpp.sh
#   mamba-rs 0.4.2 (Mamba-1 only, single-threaded)                mamba-rs-bench
#   ours: target/release/ssm bench generate (built with cargo build --release; if present)
#
# env: PROMPT (512) DECODE (128) THREADS (2) REPS (3) GGUF_TYPES ("f32 f16")
#      TF_THREADS (= THREADS; a list such as "2 1" runs transformers once per thread count:
#      on a loaded 2-core box torch with 2 threads can be several times slower than with 1)
#      SKIP="transformers llamacpp mamba-rs ssm" to leave peers out.
# Run setup_peers.sh once before (it is called here if something is missing).
set -uo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$HERE"
PROMPT="${PROMPT:-512}" DECODE="${DECODE:-128}" THREADS="${THREADS:-2}" REPS="${REPS:-3}"
GGUF_TYPES="${GGUF_TYPES:-f32 f16}" SKIP="${SKIP:-}" TF_THREADS="${TF_THREADS:-$THREADS}"
SSM="${SSM:-$HERE/../../target/release/ssm}"
mkdir -p results
OUT="results/generate_peers-$(date +%Y%m%d-%H%M%S).jsonl"
skip() { case " $SKIP " in *" $1 "*) return 0 ;; esac; return 1; }
log() { echo "[run_generate_peers] $*" >&2; }
emit() { grep --line-buffered '^{' | tee -a "$OUT"; }

if [ ! -f venv/.ready ] || [ ! -x src/llama.cpp/build/bin/llama-bench ] \
   || [ ! -f models/hf-mamba2-130m/model.safetensors ] || [ ! -f models/gguf/mamba2-130m-f32.gguf ]; then
  log "setup incomplete, running setup_peers.sh"
  bash setup_peers.sh >&2 || { log "setup failed"; exit 1; }
fi

log "machine: $(nproc) cores, load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "{\"what\": \"env\", \"cpu\": \"$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')\", \"nproc\": $(nproc), \"loadavg\": \"$(cut -d' ' -f1-3 /proc/loadavg)\", \"prompt\": $PROMPT, \"decode\": $DECODE, \"threads\": $THREADS}" | tee -a "$OUT"

if ! skip transformers; then
  for tt in $TF_THREADS; do
    log "transformers ($tt threads)"
    venv/bin/python bench_transformers.py --model both --prompt "$PROMPT" --decode "$DECODE" \
      --reps "$REPS" --threads "$tt" 2> >(grep -v -e 'falling back' -e 'Loading weights' >&2) | emit
  done
fi

if ! skip llamacpp; then
  log "llama.cpp"
  bash bench_llamacpp.sh -p "$PROMPT" -n "$DECODE" -t "$THREADS" -r "$REPS" -y "$GGUF_TYPES" | emit
fi

if ! skip mamba-rs; then
  if [ -x mamba-rs-bench/target/release/mamba-rs-bench ]; then
    log "mamba-rs (mamba-130m only; its 0.4.2 loader has no Mamba-2)"
    mamba-rs-bench/target/release/mamba-rs-bench models/hf-mamba-130m "$PROMPT" "$DECODE" 8 "$REPS" mamba-130m | emit
  else
    log "mamba-rs-bench not built, skipped"
  fi
fi

if ! skip ssm; then
  if [ -x "$SSM" ]; then
    log "ssm (ours): $SSM"
    "$SSM" bench generate --model both --prompt "$PROMPT" --decode "$DECODE" | sed -u 's/^{/{"peer": "statespace", /' | emit
  else
    log "ssm binary not found at $SSM, skipped"
  fi
fi
log "results in $HERE/$OUT"
