#!/bin/bash
# One segment of a training run longer than one device command (10 minutes):
# run on the GPU machine, it starts or resumes runs/NAME, stops at the first
# checkpoint after MINUTES (`ssm train --stop-after`), and returns the run
# folder through $OUT, to be carried into the next segment.
#
#   bench/peers/train/run_segment.sh NAME MINUTES [ARGS for a new run...]
#
# A new run: `ssm train --name NAME --device cuda ARGS` (e.g. --config
# configs/fashion-mnist-s4d.toml). When .carry/runs/NAME/config.toml exists
# (carried in from the last segment), it resumes that run instead: the
# resumed run equals an uninterrupted one (tests/suite/train_resume.rs).
#
# Between segments, on the machine that calls the device:
#   mkdir -p .carry/runs && rm -rf .carry/runs/NAME
#   cp -r FILES_AT/runs/NAME .carry/runs/NAME && chmod -R u+w .carry/runs/NAME
# (FILES_AT: the `files_at` folder of the segment's result). Carried folders
# count towards the 64 MiB carry limit with .carry/ssm: two checkpoints (best,
# last) of parameters and AdamW moments, 24 bytes per parameter, so runs of
# up to about 1.5 M parameters fit beside the binary.
# Expects .carry/ssm (a release binary built with --features cuda).
set -u
name=$1; minutes=$2; shift 2
OUT=${OUT:-.}
mkdir -p runs
if [ -f ".carry/runs/$name/config.toml" ]; then
  rm -rf "runs/$name" && cp -r ".carry/runs/$name" "runs/$name"
  echo "segment: resuming runs/$name from step $(tail -1 "runs/$name/metrics.csv" | cut -d, -f1)"
  .carry/ssm train --resume "runs/$name" --device cuda --stop-after "$minutes"
else
  echo "segment: starting runs/$name"
  .carry/ssm train --name "$name" --device cuda --stop-after "$minutes" "$@"
fi
echo "segment: ssm rc=$?"
mkdir -p "$OUT/runs" && cp -r "runs/$name" "$OUT/runs/$name"
du -sh "$OUT/runs/$name"
