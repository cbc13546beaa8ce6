#!/bin/bash
# A/B of one session's GPU changes, interleaved in one device command (docs/BENCHMARKS.md,
# "GPU end to end", 15:40 UTC run): release binaries built here with --features cuda,
# stripped and xz-compressed into .carry/bins/ (two uncompressed ones exceed the device's
# 64 MiB carry limit):
#   ssm-base.xz  41af31e (the session's start)
#   ssm-k.xz     + fused AdamW, scan gradients in the inputs' layout, causal conv1d kernels
#   ssm.xz       + cuBLAS/cuFFT on CubeCL's stream (no host waits)
# plus .carry/golden (a copy of ../shared/golden). Writes to $OUT.
set -u
OUT=${OUT:-.}
export SSM_GOLDEN_DIR=$PWD/.carry/golden
for b in ssm ssm-k ssm-base; do python3 -c "import lzma,sys; open(sys.argv[2],'wb').write(lzma.open(sys.argv[1]).read())" .carry/bins/$b.xz .carry/$b; chmod +x .carry/$b; done
source "$(dirname "$0")/peak.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
timeout 170 .carry/ssm selftest --device cuda > $OUT/selftest.txt 2>&1; echo "selftest rc=$?"
grep -c "^ok" $OUT/selftest.txt; grep -v "^ok" $OUT/selftest.txt | tail -12
date -u
for r in 1 2; do for bin in ssm-base ssm-k ssm; do
  echo "== $bin round $r"
  timeout 100 .carry/$bin bench train-lm --device cuda --batch 8 --len 1024 --steps 5 2>&1 | tail -1
done; done 2>&1 | tee $OUT/ab_train_lm.txt
for bin in ssm-base ssm; do
  echo "== $bin"
  timeout 60 .carry/$bin bench train --device cuda --mixer s4d --batch 64 --len 1024 --d-model 128 --layers 4 --steps 10 2>&1 | tail -1
  for b in 1 64; do timeout 60 .carry/$bin bench decode --device cuda --batch $b --tokens 128 2>&1 | tail -1; done
done 2>&1 | tee $OUT/ab_other.txt
peak timeout 100 .carry/ssm bench train-lm --device cuda --batch 8 --len 1024 --steps 5 2>&1 | tail -2 | tee $OUT/peak_lm.txt
date -u
