#!/bin/bash
# The body of the S4-on-the-GPU device commands (session_dplr.sh,
# session_f64fft.sh, which set what differs): main's .carry/bins/ssm.xz
# against a variant's .carry/bins/ssm-next.xz (build_bins.sh), in one
# command.
# - the variant's ops parity group and the golden cases of the prefixes in
#   ONLY ($OUT/parity_next.txt), its lines matching SHOW echoed;
# - `ssm bench train --mixer s4` at ListOps' shape (32 × 1999, 6 × 256),
#   the two builds interleaved over ROUNDS (default 2), with S4D of the
#   build S4D_BUILD (ssm or ssm-next) beside them ($OUT/ab_s4.txt);
# - with MINUTES set and the parity passed, a segment of
#   configs/listops-s4-one-session.toml with the variant
#   (session_listops.sh, NAME listops_s4, resuming .carry/runs/listops_s4
#   when carried; PROFILE=1 adds its host flamegraph), the last TAIL lines
#   of its log shown.
# Carry .carry/bins, .carry/golden (a whole copy of ../shared/golden: the
# selftest stops when its manifest lists a case whose file is missing) and,
# to resume, .carry/runs.
set -u
export OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
machine_header
only=()
for prefix in $ONLY; do only+=(--only "$prefix"); done
timeout 200 .carry/ssm-next selftest --device cuda --parity ops "${only[@]}" \
  > "$OUT/parity_next.txt" 2>&1
rc=$?
echo "== parity rc=$rc: $(tail -n 1 "$OUT/parity_next.txt")"
grep -v '^ok' "$OUT/parity_next.txt" | cut -c1-400 | tail -n 20
grep -E "^ok +($SHOW)" "$OUT/parity_next.txt" | cut -c1-200
for r in $(seq "${ROUNDS:-2}"); do
  for b in ssm ssm-next; do
    timeout 100 .carry/$b bench train --mixer s4 --device cuda --batch 32 --len 1999 \
      --d-model 256 --layers 6 --steps 10 2>&1 | grep '^{' | sed "s/^/$b round=$r /"
  done
done 2>&1 | tee "$OUT/ab_s4.txt"
timeout 60 .carry/$S4D_BUILD bench train --mixer s4d --device cuda --batch 32 --len 1999 \
  --d-model 256 --layers 6 --steps 10 2>&1 | grep '^{' | sed "s/^/$S4D_BUILD /" | tee -a "$OUT/ab_s4.txt"
if [ -n "${MINUTES:-}" ] && [ $rc = 0 ]; then
  # session_listops.sh unpacks and trains with .carry/bins/ssm.xz: the
  # variant's stands in (this is the device's copy of .carry).
  cp .carry/bins/ssm-next.xz .carry/bins/ssm.xz
  NAME=listops_s4 CONFIG=configs/listops-s4-one-session.toml MINUTES=$MINUTES PROFILE=${PROFILE:-0} \
    SEGMENT_CAP=$(python3 -c "print(round(${MINUTES} * 60 + 40))") \
    bash "$here/session_listops.sh" 2>&1 | tail -n "$TAIL"
fi
date -u
