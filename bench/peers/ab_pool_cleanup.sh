#!/bin/bash
# The exclusive pools' periodic cleanup (bench/variants/exclusive-pool-cleanup.patch,
# built as .carry/bins/ssm-next.xz) against main (ssm.xz), both under the layout it
# changes (SSM_CUDA_MEMORY=classes) and the metadata ring. Under `classes` the
# full-schedule ListOps run held 24,771 MiB by nvidia-smi from its second minute and,
# in its next process, grew from 23,491 to 30,691 MiB over 8 minutes, where the
# `sliced` runs held 4,927 MiB (bench/results/gpu-h100-2026-12-07h-metadata-ring/);
# cubecl-cuda 0.10 never runs the pools' periodic cleanup, and the patch does.
# In one command:
# - the ops parity group of the patched build under `classes`;
# - the ListOps S4D loop of each build for LOOP_SECONDS (default 170),
#   evaluating every 300 steps: steps/s, GPU utilisation, nvidia-smi's memory
#   at each quarter of the run, and the first and last evaluation lines
#   (builds from commit b3edde0 on end them with the pools' GiB in use and
#   reserved); the first run's growth came at 100–120 s;
# - the mamba-130m bf16 step with its peak memory, main under `sliced` (the
#   default) and the patch under `classes`: the figures a change of the
#   default layout needs.
# About 8.5 minutes, at most 10: parity at most 120 s, about 3.1 minutes a
# loop, at most 60 s an LM row. Carry .carry/bins.
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
export SSM_CUDA_MEMORY=classes SSM_CUDA_METADATA=ring
{
  machine_header
  timeout 120 .carry/ssm-next selftest --device cuda --parity ops > "$OUT/parity_next.txt" 2>&1
  echo "ssm-next ops parity under classes, rc=$?: $(tail -n 1 "$OUT/parity_next.txt")"
  for b in ssm ssm-next; do
    bash "$here/train/run_loop_throughput.sh" "${LOOP_SECONDS:-170}" "$b=.carry/$b" -- \
      --config configs/listops-s4d.toml --set schedule.eval_every=300 --set task.val_size=128
    # Memory used (MiB) at each quarter of the samples; the file then goes
    # (the device returns a limited number of files).
    awk -F', ' '{ m[NR] = $3 } END { printf "%s memory used (MiB) at 1/4, 1/2, 3/4, end:", L;
      for (q = 1; q <= 4; q++) printf " %s", m[int(NR * q / 4)]; print "" }' \
      L="$b" "$OUT/util-$b.csv"
    rm -f "$OUT/util-$b.csv"
    grep -m 1 '^step' "$OUT/throughput-$b.log" | sed "s/^/$b first: /"
    grep '^step' "$OUT/throughput-$b.log" | tail -n 1 | sed "s/^/$b last: /"
  done
  SSM_CUDA_MEMORY=sliced LM_TIMEOUT=60 lm_step_peak lm-ssm-sliced-bf16 .carry/ssm bf16
  LM_TIMEOUT=60 lm_step_peak lm-ssm-next-classes-bf16 .carry/ssm-next bf16
  date -u
} 2>&1 | tee "$OUT/ab_pool_cleanup.txt"
