#!/bin/bash
# One segment of a training run longer than one device command (10 minutes):
# run on the GPU machine, it starts or resumes runs/NAME, stops after the
# first step past MINUTES with a checkpoint there (`ssm train --stop-at`;
# fractions allowed), and returns the run
# folder through $OUT, to be carried into the next segment (or the next
# session: the folder is all a resume needs).
#
#   bench/peers/train/run_segment.sh NAME MINUTES [ARGS for a new run...]
#
# A new run: `ssm train --name NAME --device cuda ARGS` (e.g. --config
# configs/fashion-mnist-s4d.toml). When .carry/runs/NAME/config.toml exists
# (carried in from the last segment), it resumes that run instead. On the
# CPU a resumed run equals an uninterrupted one (tests/suite/train_resume.rs);
# on the GPU, whose backward sums in float atomics, it is as close as
# another run of the seed.
#
# The folder comes back as a tar in parts of at most 15 MiB
# ($OUT/NAME.tar.00, .01, ...: one file comes back at 16 MiB at most), beside
# its metrics.csv to read. Between segments, on the machine that
# calls the device:
#   bench/peers/train/carry_in.sh NAME FILES_AT
# (FILES_AT: the `files_at` folder of the segment's result) puts it in
# .carry/runs/NAME. Carried folders count towards the 64 MiB a call takes
# with .carry/ssm (11 MB) and the tracked tree (18 MB): the last checkpoint
# holds parameters and AdamW moments (12 bytes per parameter), the best one
# the parameters alone (4 bytes), so runs of up to about 2 M parameters fit.
# Expects .carry/ssm (a release binary built with --features cuda).
# TRAIN_FLAGS (optional) go to `ssm train` whether it starts or resumes,
# e.g. "--host-profile $OUT/NAME-host.svg".
#
# `--stop-at` (builds from 2026-12-07 18:00 UTC on; an older .carry/ssm gets
# `--stop-before`, the last evaluation before MINUTES, which lost up to an
# evaluation interval a segment: 71 s of ListOps S4's 510 on 2026-12-07)
# writes the last checkpoint at the step where MINUTES pass, between
# evaluations too; an evaluation under way then finishes first, so a slow
# one can still end past MINUTES. SEGMENT_CAP (seconds;
# default MINUTES · 60 + 60) stops `ssm train` outright past that, so that
# the folder still comes back within the device's command limit: a stopped
# run keeps its last whole checkpoint (tests/suite/crash_safety.rs), and the
# next segment resumes from it. (Until 2026-12-06 this used `--stop-after`,
# the first checkpoint after MINUTES, and a cap 240 s later; a selective-
# copying segment of that day passed its minutes just before a checkpoint
# and lost 107 s of training to the cap.)
set -u
name=$1; minutes=$2; shift 2
OUT=${OUT:-.}
cap=${SEGMENT_CAP:-$(python3 -c "import sys; print(round(float(sys.argv[1]) * 60 + 60))" "$minutes")}
mkdir -p runs
stop=--stop-at
.carry/ssm train --help | grep -q -- --stop-at || stop=--stop-before
if [ -f ".carry/runs/$name/config.toml" ]; then
  rm -rf "runs/$name" && cp -r ".carry/runs/$name" "runs/$name"
  echo "segment: resuming runs/$name from step $(python3 "$(dirname "$0")/checkpoint_step.py" "runs/$name")"
  timeout -k 10 "$cap" .carry/ssm train --resume "runs/$name" --device cuda "$stop" "$minutes" ${TRAIN_FLAGS:-}
else
  echo "segment: starting runs/$name"
  timeout -k 10 "$cap" .carry/ssm train --name "$name" --device cuda "$stop" "$minutes" ${TRAIN_FLAGS:-} "$@"
fi
rc=$?
echo "segment: ssm rc=$rc"
[ $rc = 124 ] || [ $rc = 137 ] && echo "segment: stopped by SEGMENT_CAP ($cap s); the folder holds its last checkpoint"
du -sh "runs/$name"
tar cf - -C runs "$name" | split -b 15m -d - "$OUT/$name.tar."
cp "runs/$name/metrics.csv" "$OUT/$name.metrics.csv" 2>/dev/null
ls "$OUT"
