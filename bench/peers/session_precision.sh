#!/bin/bash
# The first device command of a session on the mixed-precision gap (issue 21):
# the peer extension's build in the background (for `PEERS=1 run_precision.sh`
# in the next command of the same warm window), meanwhile the new build's
# parity groups that cover its changes (ops, mixed precision), then the
# mamba-130m training step of the new build against the previous one in bf16,
# interleaved over two rounds, each with the GPU's peak memory and
# utilisation during the steps (peak.sh), once the build no longer shares the
# host. Layout: .carry/bins/{ssm,ssm-prev}.xz, .carry/golden, .carry/mamba-src.
# Writes to $OUT; about 6 minutes.
#
# Then, within 30 s: `PEERS=1 bash bench/peers/run_precision.sh` (ours and
# mamba_ssm in f32 / bf16 / f16), and in a third command
# `PRECISIONS=bf16 bash bench/peers/profile_precision.sh` (Nsight kernel times).
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
source "$here/peak.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
(PEERS=build bash "$here/run_precision.sh" > "$OUT/peers_build.txt" 2>&1) & build=$!
timeout 200 .carry/ssm selftest --device cuda --parity ops --parity mixed-precision > "$OUT/selftest.txt" 2>&1
echo "selftest rc=$?"; tail -1 "$OUT/selftest.txt"; grep -v "^ok" "$OUT/selftest.txt" | head -12
wait $build; tail -2 "$OUT/peers_build.txt"; date -u
for round in 1 2; do
  for bin in ssm-prev ssm; do
    echo "== $bin bf16 round $round"
    peak timeout 90 .carry/$bin bench train-lm --device cuda --model mamba-130m --batch 8 --len 1024 \
      --steps 10 --precision bf16 2>&1 | grep '^{'
  done
done 2>&1 | tee "$OUT/ab_precision.txt"
date -u
