#!/bin/bash
# The DPLR generating function's CubeCL kernels
# (bench/variants/dplr-spectrum-kernels.patch, built as .carry/bins/ssm-next.xz
# beside main's .carry/bins/ssm.xz by build_bins.sh) in one device command.
# Main's GPU path runs the CPU kernel through host memory each way.
# - the variant's ops parity group (with the patch's f64 dplr_spectrum
#   checks, drawn last) and the S4, H3 and ssm golden cases
#   ($OUT/parity_next.txt), the DPLR and S4 lines echoed;
# - `ssm bench train --mixer s4` at ListOps' shape (32 × 1999, 6 × 256),
#   main and the variant interleaved over ROUNDS (default 2), with main's
#   S4D beside them ($OUT/ab_s4.txt);
# - with MINUTES set and the parity passed, a segment of
#   configs/listops-s4-one-session.toml with the variant
#   (bench/peers/session_listops.sh, NAME listops_s4) for its training rate.
# About 3 minutes without MINUTES. Build with
#   NEXT=bench/variants/dplr-spectrum-kernels.patch bash bench/peers/build_bins.sh
# and carry .carry/bins and .carry/golden (a copy of ../shared/golden).
# Applied on 2026-12-07 (commit 8726c0f; bench/results/gpu-h100-2026-12-07e-dplr-kernels/): to
# rerun the A/B, build 8726c0f's parent as .carry/bins/ssm.xz and
# 8726c0f as .carry/bins/ssm-next.xz (git worktree + build_bins.sh).
set -u
export OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
machine_header
timeout 200 .carry/ssm-next selftest --device cuda --parity ops --only s4_ --only h3_ --only ssm_ \
  > "$OUT/parity_next.txt" 2>&1
rc=$?
echo "== parity rc=$rc: $(tail -n 1 "$OUT/parity_next.txt")"
grep -v '^ok' "$OUT/parity_next.txt" | cut -c1-400 | tail -n 20
grep -E '^ok +(dplr|s4_|h3_|ssm_)' "$OUT/parity_next.txt" | cut -c1-200
for r in $(seq "${ROUNDS:-2}"); do
  for b in ssm ssm-next; do
    timeout 100 .carry/$b bench train --mixer s4 --device cuda --batch 32 --len 1999 \
      --d-model 256 --layers 6 --steps 10 2>&1 | grep '^{' | sed "s/^/$b round=$r /"
  done
done 2>&1 | tee "$OUT/ab_s4.txt"
timeout 60 .carry/ssm bench train --mixer s4d --device cuda --batch 32 --len 1999 \
  --d-model 256 --layers 6 --steps 10 2>&1 | grep '^{' | sed "s/^/ssm /" | tee -a "$OUT/ab_s4.txt"
if [ -n "${MINUTES:-}" ] && [ $rc = 0 ]; then
  # session_listops.sh unpacks and trains with .carry/bins/ssm.xz: the
  # variant's stands in (this is the device's copy of .carry).
  cp .carry/bins/ssm-next.xz .carry/bins/ssm.xz
  NAME=listops_s4 CONFIG=configs/listops-s4-one-session.toml MINUTES=$MINUTES \
    SEGMENT_CAP=$(python3 -c "print(round(${MINUTES} * 60 + 40))") \
    bash "$here/session_listops.sh" 2>&1 | tail -n 20
fi
date -u
