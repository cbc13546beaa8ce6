#!/bin/bash
# ListOps at the paper's scale (configs/listops-s4d.toml by default, or
# CONFIG=configs/listops-s4.toml): 120,000 × 32 steps, about 50 minutes
# of an H200 at the 40 steps/s of 2026-12-06, so two sessions' device time.
# Each command resumes the carried folder (.carry/runs/NAME, default
# listops; train/carry_in.sh) or starts it, trains to a checkpoint
# where MINUTES pass (default 8.5; `ssm train --stop-at`, or `--stop-before`
# with a build older than 2026-12-07 18:00 UTC) and returns the
# folder as $OUT/NAME.tar.*; a finished run is scored on its test split in
# the same command ($OUT/NAME-eval.log). Between sessions the folder lives
# only in .carry/runs/NAME (about 16 MB), which is git-ignored: a session that
# starts on a fresh copy of the repository does not have it (2026-12-07).
# SETTINGS (optional) go to a new run after its config, e.g.
# "--set optim.tf32=true"; a resumed run keeps the settings it started with.
# Carry .carry/bins/ssm.xz (build_bins.sh) and, after the first command,
# .carry/runs/NAME.
# Beside the folder: $OUT/NAME-util.csv, nvidia-smi's GPU utilisation and
# memory every second of the segment, and the host's CPU model and core count
# in the log (the H100 machines have trained this loop at about half the
# H200's rate; docs/BENCHMARKS.md, "The training loop"). With PROFILE=1,
# also $OUT/NAME-host.svg, a flamegraph of the host from the segment's 20th
# step on (`ssm train --host-profile`; builds from 2026-12-06 15:00 on), and
# host_frames.py's summary of it in the log.
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
name=${NAME:-listops}
machine_header
nvidia-smi --query-gpu=timestamp,utilization.gpu,memory.used --format=csv,noheader,nounits \
  -lms 1000 > "$OUT/$name-util.csv" &
sampler=$!
flags=""
[ "${PROFILE:-0}" = 1 ] && flags="--host-profile $OUT/$name-host.svg"
TRAIN_FLAGS=$flags SEGMENT_CAP=${SEGMENT_CAP:-570} bash "$here/train/run_segment.sh" "$name" "${MINUTES:-8.5}" \
  --config "${CONFIG:-configs/listops-s4d.toml}" ${SETTINGS:-}
kill $sampler 2>/dev/null
awk -F', ' '{ s += $2; n++ } END { if (n) printf "GPU utilisation: mean %.1f %% over %d samples\n", s / n, n }' "$OUT/$name-util.csv"
[ -f "$OUT/$name-host.svg" ] && python3 "$here/host_frames.py" "$OUT/$name-host.svg" | head -n 60
if grep -q ',test,' "runs/$name/metrics.csv" 2>/dev/null; then
  timeout 60 .carry/ssm eval "runs/$name" --device cuda --recurrent-examples 0 > "$OUT/$name-eval.log" 2>&1
  echo "eval rc=$?"; cat "$OUT/$name-eval.log"
fi
date -u
