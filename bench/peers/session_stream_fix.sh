#!/bin/bash
# One device command that checks the one-stream-per-run fix
# (docs/ARCHITECTURE.md, "One stream per run"). There are two builds:
# .carry/bins/ssm-next.xz is from before the fix, .carry/bins/ssm.xz from
# after it. The command runs three parts:
# 1. train/stream_race.sh with both builds: the loaded MQAR resume that fell to
#    chance, and the same resume alone. Logs go to $OUT/stream_race.tgz.
# 2. The bf16 mamba-130m training step of both builds, interleaved over two
#    rounds. `bench train-lm` runs on the calling thread, so the two should
#    agree.
# 3. The S4D classifier step (`bench train`) of both builds, interleaved over
#    two rounds. Before the fix, its device wait missed the worker's stream.
#    The difference between the builds is how far the old figures were off.
# Carry .carry/bins/ssm.xz, .carry/bins/ssm-next.xz and .carry/runs/mqar-tied
# (about 61 MB with the tree). About 6 minutes. The MQAR run's last 5,000
# steps follow as a second command:
#   SEGMENT_CAP=200 bash bench/peers/train/run_segment.sh mqar-tied 3
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
source "$here/peak.sh"
logs=$(mktemp -d)
LOGS=$logs RACE_BUILDS="ssm-next ssm" bash "$here/train/stream_race.sh"
tar czf "$OUT/stream_race.tgz" -C "$logs" .
for round in 1 2; do
  for build in ssm-next ssm; do
    echo "== $build bf16 LM round $round"
    peak timeout 90 ".carry/$build" bench train-lm --device cuda --model mamba-130m --batch 8 --len 1024 \
      --steps 10 --precision bf16 2>&1 | grep '^{'
  done
done
for round in 1 2; do
  for build in ssm-next ssm; do
    echo "== $build S4D classifier round $round"
    timeout 60 ".carry/$build" bench train --device cuda --mixer s4d --batch 64 --len 1024 --d-model 128 \
      --layers 4 --steps 10 2>&1 | tail -n 1
  done
done
date -u
