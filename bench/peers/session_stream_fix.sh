#!/bin/bash
# One device command that checks the one-stream-per-run fix
# (docs/ARCHITECTURE.md, "One stream per run"). There are two builds:
# .carry/bins/ssm-next.xz is from before the fix, .carry/bins/ssm.xz from
# after it. The command runs three parts:
# 1. train/stream_race.sh with both builds: the loaded MQAR resume that fell to
#    chance, and the same resume alone. Logs go to $OUT/stream_race.tgz.
# 2. The bf16 mamba-130m training step of both builds, interleaved over two
#    rounds (does one stream change the step's speed?).
# 3. The tied MQAR run's last 5,000 steps with the fixed build, alone on the
#    machine (train/run_segment.sh; the folder comes back as
#    $OUT/mqar-tied.tar.*), then `ssm eval` of its best checkpoint.
# Carry .carry/bins/ssm.xz, .carry/bins/ssm-next.xz and .carry/runs/mqar-tied
# (about 61 MB with the tree). About 7 minutes.
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
source "$here/peak.sh"
logs=$(mktemp -d)
LOGS=$logs BUILDS="ssm-next ssm" bash "$here/train/stream_race.sh"
tar czf "$OUT/stream_race.tgz" -C "$logs" .
for round in 1 2; do
  for build in ssm-next ssm; do
    echo "== $build bf16 round $round"
    peak timeout 90 ".carry/$build" bench train-lm --device cuda --model mamba-130m --batch 8 --len 1024 \
      --steps 10 --precision bf16 2>&1 | grep '^{'
  done
done
date -u
ln -sf ssm .carry/ssm
SEGMENT_CAP=200 bash "$here/train/run_segment.sh" mqar-tied 3 > "$OUT/mqar_segment.log" 2>&1
tail -n 3 "$OUT/mqar_segment.log"
grep ',val,' runs/mqar-tied/metrics.csv | tail -n 6
timeout 90 .carry/ssm eval runs/mqar-tied --device cuda 2>&1 | tail -n 3
date -u
