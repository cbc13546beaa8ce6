#!/bin/bash
# Mamba-3 beside mamba_ssm's Triton kernels in one device command: ours
# (`ssm bench kernels --only mamba3`, the carried .carry/bins/ssm.xz) and
# mamba3_triton.py in f32 (DTYPES, default float32), for the table of
# docs/BENCHMARKS.md (run C). Triton autotunes each kernel on a cold machine
# for minutes: on 2026-12-07 a 150 s limit ended it before its first line, so
# it gets TRITON_SECONDS (default 330) and its stderr is kept
# ($OUT/mamba3_triton.log). Carry .carry/bins/ssm.xz and .carry/mamba-src.
set -u
export OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
machine_header
timeout 120 .carry/ssm bench kernels --device cuda --only mamba3 2>&1 | grep '^{' | tee "$OUT/ours_mamba3.jsonl"
DTYPES=${DTYPES:-float32} MAMBA_SRC=$PWD/.carry/mamba-src PYTHONUNBUFFERED=1 \
  timeout "${TRITON_SECONDS:-330}" python3 "$here/mamba3_triton.py" > "$OUT/mamba3_triton.log" 2>&1
echo "== triton rc=$?"
grep '^{' "$OUT/mamba3_triton.log" | tee "$OUT/peers_mamba3.jsonl"
grep -v '^{' "$OUT/mamba3_triton.log" | grep -v Warning | tail -n 8
date -u
