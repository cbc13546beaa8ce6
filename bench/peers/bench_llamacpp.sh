#!/usr/bin/env bash
# Peer benchmark: llama.cpp llama-bench (CPU build) on the GGUF files made by convert_gguf.sh.
# Prints one JSON line per model file:
#   {"peer":"llama.cpp","model":...,"gguf_type":"f32","prefill_tok_s":...,"decode_tok_s":...}
# llama-bench semantics: pp<P> = one batch of P prompt tokens from an empty state;
# tg<N> = N single-token decode steps from an empty state (no prompt); avg over -r reps
# after one warm-up run.
#
# usage: bench_llamacpp.sh [-p 512] [-n 128] [-t 2] [-r 3] [-y "f32 f16"] [-m "mamba-130m mamba2-130m"]
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
BENCH="${LLAMA_BENCH:-$HERE/src/llama.cpp/build/bin/llama-bench}"
PY="$HERE/venv/bin/python"
P=512 N=128 T=2 R=3 TYPES="f32 f16" MODELS="mamba-130m mamba2-130m"
while getopts "p:n:t:r:y:m:" o; do
  case $o in
    p) P=$OPTARG ;; n) N=$OPTARG ;; t) T=$OPTARG ;; r) R=$OPTARG ;;
    y) TYPES=$OPTARG ;; m) MODELS=$OPTARG ;; *) exit 2 ;;
  esac
done
[ -x "$BENCH" ] || { echo "llama-bench not found at $BENCH (run build_llamacpp.sh)" >&2; exit 1; }
COMMIT="$(awk '{print $1; exit}' "$HERE/src/llama.cpp/LLAMA_CPP_COMMIT" 2>/dev/null || echo unknown)"

for m in $MODELS; do
  for ty in $TYPES; do
    f="$HERE/models/gguf/$m-$ty.gguf"
    if [ ! -f "$f" ]; then
      echo "{\"peer\": \"llama.cpp\", \"model\": \"$m\", \"gguf_type\": \"$ty\", \"error\": \"missing $f\"}"
      continue
    fi
    out="$(mktemp)"; err="$(mktemp)"
    if ! "$BENCH" -m "$f" -p "$P" -n "$N" -t "$T" -r "$R" -o jsonl >"$out" 2>"$err"; then
      msg="$(tail -n 3 "$err" | tr '"\n\\' "'  ")"
      echo "{\"peer\": \"llama.cpp\", \"model\": \"$m\", \"gguf_type\": \"$ty\", \"error\": \"llama-bench failed: $msg\"}"
      rm -f "$out" "$err"; continue
    fi
    "$PY" - "$out" "$m" "$ty" "$COMMIT" <<'EOF'
import json, sys
path, model, ty, commit = sys.argv[1:5]
rec = {"peer": "llama.cpp", "model": model, "gguf_type": ty, "batch": 1,
       "llama_cpp_commit": commit}
for line in open(path):
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    rec.setdefault("threads", r.get("n_threads"))
    rec.setdefault("cpu_info", r.get("cpu_info"))
    rec.setdefault("model_type", r.get("model_type"))
    if r.get("n_prompt", 0) > 0 and r.get("n_gen", 0) == 0:
        rec["prompt"] = r["n_prompt"]
        rec["prefill_tok_s"] = round(r["avg_ts"], 1)
        rec["prefill_stddev"] = round(r.get("stddev_ts", 0.0), 1)
    elif r.get("n_gen", 0) > 0 and r.get("n_prompt", 0) == 0:
        rec["decode_tokens"] = r["n_gen"]
        rec["decode_tok_s"] = round(r["avg_ts"], 2)
        rec["decode_stddev"] = round(r.get("stddev_ts", 0.0), 2)
print(json.dumps(rec), flush=True)
EOF
    rm -f "$out" "$err"
  done
done
