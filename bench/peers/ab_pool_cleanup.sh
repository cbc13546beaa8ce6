#!/bin/bash
# The exclusive pools' periodic cleanup (bench/variants/exclusive-pool-cleanup.patch,
# built as .carry/bins/ssm-next.xz) against main (ssm.xz), both under the layout it
# changes (SSM_CUDA_MEMORY=classes) and the metadata ring. Under `classes` a
# full-schedule ListOps run grew from 19.1 to 30.7 GB over 15 minutes while the
# `sliced` runs held 4.9 GB (bench/results/gpu-h100-2026-12-07h-metadata-ring/);
# cubecl-cuda 0.10 never runs the pools' periodic cleanup, and the patch does.
# In one command:
# - the ops parity group of the patched build under `classes`;
# - the ListOps S4D loop of each build for LOOP_SECONDS (default 120),
#   interleaved over ROUNDS (default 1), evaluating every 300 steps: steps/s,
#   GPU utilisation, nvidia-smi's memory at each quarter of the run, and the
#   first and last evaluation lines (builds from 2026-12-07 23:00 UTC on end
#   them with the pools' bytes in use and reserved);
# - the mamba-130m step in bf16 (PRECISIONS, default "bf16") with its peak
#   memory: main under `sliced` (the default), then main and the patch under
#   `classes`, the figures a change of the default layout needs.
# About 9 minutes with the defaults (LOOP_SECONDS 120, one round): parity
# at most 200 s, 2.3 minutes a loop, under a minute an LM row. Carry .carry/bins.
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
export SSM_CUDA_MEMORY=classes SSM_CUDA_METADATA=ring
{
  machine_header
  timeout 200 .carry/ssm-next selftest --device cuda --parity ops > "$OUT/parity_next.txt" 2>&1
  echo "ssm-next ops parity under classes, rc=$?: $(tail -n 1 "$OUT/parity_next.txt")"
  for r in $(seq "${ROUNDS:-1}"); do
    for b in ssm ssm-next; do
      label=$b-$r
      bash "$here/train/run_loop_throughput.sh" "${LOOP_SECONDS:-120}" "$label=.carry/$b" -- \
        --config configs/listops-s4d.toml --set schedule.eval_every=300 --set task.val_size=128
      # Memory used (MiB) at each quarter of the samples; the file then goes
      # (the device returns a limited number of files).
      awk -F', ' '{ m[NR] = $3 } END { printf "%s memory used (MiB) at 1/4, 1/2, 3/4, end:", L;
        for (q = 1; q <= 4; q++) printf " %s", m[int(NR * q / 4)]; print "" }' \
        L="$label" "$OUT/util-$label.csv"
      rm -f "$OUT/util-$label.csv"
      grep '^step' "$OUT/throughput-$label.log" | sed -n '1p;$p' | sed "s/^/$label /"
    done
  done
  for precision in ${PRECISIONS:-bf16}; do
    SSM_CUDA_MEMORY=sliced lm_step_peak "lm-ssm-sliced-$precision" .carry/ssm "$precision"
    lm_step_peak "lm-ssm-classes-$precision" .carry/ssm "$precision"
    lm_step_peak "lm-ssm-next-classes-$precision" .carry/ssm-next "$precision"
  done
  date -u
} 2>&1 | tee "$OUT/ab_pool_cleanup.txt"
