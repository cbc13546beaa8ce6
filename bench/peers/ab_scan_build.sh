#!/bin/bash
# A/B of a selective-scan variant build against main in one device command:
# the variant's selective-scan parity group first (a variant that fails it
# is not timed), then `ssm bench kernels --only scan` (f32 and bf16 at
# 8 × 1536 × 2048, bf16 at 1 × 1536 × 65536) of both builds interleaved
# over ROUNDS (default 4), then the bf16 mamba-130m training step of both,
# interleaved over LM_ROUNDS (default 2; 0 skips it).
# Carry .carry/bins/ssm.xz (main) and .carry/bins/ssm-next.xz (the variant:
# `NEXT=bench/variants/NAME.patch bash bench/peers/build_bins.sh`). About
# 3 minutes; the parity group needs no golden files.
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
for b in ssm ssm-next; do
  [ -x .carry/$b ] || { echo "ab_scan_build: .carry/bins/$b.xz was not carried" >&2; exit 1; }
done
timeout 200 .carry/ssm-next selftest --device cuda --parity selective-scan > "$OUT/parity_next.txt" 2>&1
rc=$?
echo "variant parity rc=$rc: $(tail -n 1 "$OUT/parity_next.txt")"
[ $rc = 0 ] || { grep -v '^ok' "$OUT/parity_next.txt" | tail -n 12; exit 1; }
bash "$here/ab_kernels.sh" .carry/ssm .carry/ssm-next scan "${ROUNDS:-4}" 2>&1 |
  sed 's/"what": "statespace.selective_scan", //' | tee "$OUT/ab_scan_kernels.txt"
for r in $(seq "${LM_ROUNDS:-2}"); do
  for b in ssm ssm-next; do
    echo "== $b bf16 LM round $r"
    timeout 90 .carry/$b bench train-lm --device cuda --model mamba-130m --batch 8 --len 1024 \
      --steps 10 --precision bf16 2>&1 | grep '^{'
  done
done 2>&1 | tee "$OUT/ab_scan_lm.txt"
date -u
