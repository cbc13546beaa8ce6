#!/bin/bash
# The first device command of a session on the mixed-precision gap (issue 21):
# the peer extension's build in the background (for `PEERS=1 run_precision.sh`
# in the next command of the same warm window), meanwhile the new build's
# parity groups that cover its changes (ops, mixed precision), then the
# mamba-130m training step of the new build against the previous one in bf16,
# interleaved over two rounds, each with the GPU's peak memory and
# utilisation during the steps (peak.sh), once the build no longer shares the
# host. Then where the new build's step waits (Nsight Systems, if the
# machine has it: the GPU's busy share of the last steps in bf16 and f32,
# nsys_busy.py) and the scan backward's occupancy and stall reasons (Nsight
# Compute sections of one launch). Layout: .carry/bins/{ssm,ssm-prev}.xz,
# .carry/golden, .carry/mamba-src. Writes to $OUT; about 6 minutes.
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
# The GPU's busy share of the new build's step (host-bound or GPU-bound).
nsys=$(command -v nsys || ls /usr/local/cuda/bin/nsys /opt/nvidia/nsight-systems/*/bin/nsys 2>/dev/null | head -1)
for precision in bf16 f32; do
  if [ -z "$nsys" ]; then echo "no nsys on this machine"; break; fi
  timeout 120 "$nsys" profile --trace=cuda --sample=none --cpuctxsw=none --export=sqlite --force-overwrite=true \
    -o "$OUT/nsys_$precision" .carry/ssm bench train-lm --device cuda --model mamba-130m --batch 8 --len 1024 \
    --steps 8 --precision $precision > "$OUT/nsys_$precision.log" 2>&1
  step_ms=$(grep -o '"ms_per_step": [0-9.]*' "$OUT/nsys_$precision.log" | grep -o '[0-9.]*$')
  grep '^{' "$OUT/nsys_$precision.log"
  [ -n "$step_ms" ] && python3 "$here/nsys_busy.py" "$OUT/nsys_$precision.sqlite" "$step_ms" 3
  rm -f "$OUT/nsys_$precision.nsys-rep"; xz -T4 -6 "$OUT/nsys_$precision.sqlite" 2>/dev/null
done 2>&1 | tee "$OUT/busy.txt"
# The scan backward's occupancy, registers and stalls (one launch, bf16).
timeout 90 /usr/local/cuda/bin/ncu -k regex:scan_chunked_backward -c 1 \
  --section LaunchStats --section Occupancy --section WarpStateStats --section SchedulerStats \
  .carry/ssm bench train-lm --device cuda --model mamba-130m --batch 8 --len 1024 --steps 1 --precision bf16 \
  > "$OUT/ncu_scan_backward.txt" 2>&1
echo "ncu rc=$?"; grep -E "Registers Per|Theoretical Occ|Achieved Occ|Block Limit (Reg|Shared)|Dynamic Shared|Stall|Issued Warp|No Eligible" "$OUT/ncu_scan_backward.txt" | head -20
date -u
