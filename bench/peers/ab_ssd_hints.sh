#!/bin/bash
# Occupancy hints of the SSD kernels (SSM_MIN_WARPS_PER_SM, read when ssm
# starts), and carried builds, timed in one device command. SETTINGS is a
# list of BUILD:HINTS entries (HINTS empty: the build's own hints), default
#   "ssm: ssm:ssd_chunk_bc_grads=16 ssm:ssd_chunk_bc_grads=16,ssd_chunk_cb=24"
# (a variant build carried as ssm-next takes "ssm-next:HINTS"). ptxas of
# main's generated source (before the quad staging of 2026-12-06) gave
# ssd_chunk_bc_grads 174 registers (one cube of 256 per SM); a hint of 16
# warps caps it at 128 (two cubes). Each setting runs the SSD parity group
# (a setting that fails it is not timed), then `ssm bench kernels --only
# ssd` of every setting, interleaved over ROUNDS (default 3), then Nsight
# Compute's time and registers per SSD kernel over the first NCU_LAUNCHES
# (default 160: the bench's forward-only runs, then backward ones) SSD
# launches of each setting ($OUT/ncu_N.csv, NCU=0 skips it).
# Carry .carry/bins/ssm.xz (and the variants named). About 1.5 minutes a
# setting with NCU.
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
settings=${SETTINGS:-"ssm: ssm:ssd_chunk_bc_grads=16 ssm:ssd_chunk_bc_grads=16,ssd_chunk_cb=24"}
# The settings that pass parity, as N:BUILD:HINTS (N: the setting's place).
passing=()
n=0
for s in $settings; do
  n=$((n + 1))
  build=${s%%:*} hints=${s#*:}
  [ -x ".carry/$build" ] || { echo "setting $n ($s): .carry/$build was not carried"; continue; }
  SSM_MIN_WARPS_PER_SM=$hints timeout 150 ".carry/$build" selftest --device cuda --parity ssd \
    > "$OUT/parity_$n.txt" 2>&1
  rc=$?
  echo "setting $n ($s) parity rc=$rc: $(tail -n 1 "$OUT/parity_$n.txt")"
  [ $rc = 0 ] && passing+=("$n:$s")
done
[ ${#passing[@]} -gt 0 ] || { echo "ab_ssd_hints: no setting to time" >&2; exit 1; }
for r in $(seq "${ROUNDS:-3}"); do
  for p in "${passing[@]}"; do
    n=${p%%:*} s=${p#*:}
    build=${s%%:*} hints=${s#*:}
    SSM_MIN_WARPS_PER_SM=$hints timeout 120 ".carry/$build" bench kernels --device cuda --only ssd 2>&1 |
      grep '^{' | sed "s/^/setting=$n ($s) round=$r /"
  done
done 2>&1 | tee "$OUT/ab_ssd_hints.txt"
if [ "${NCU:-1}" = 1 ]; then
  for p in "${passing[@]}"; do
    n=${p%%:*} s=${p#*:}
    build=${s%%:*} hints=${s#*:}
    SSM_MIN_WARPS_PER_SM=$hints timeout 150 /usr/local/cuda/bin/ncu --kernel-name regex:ssd_ -c "${NCU_LAUNCHES:-160}" \
      --metrics gpu__time_duration.sum,launch__registers_per_thread --csv --log-file "$OUT/ncu_$n.csv" \
      ".carry/$build" bench kernels --device cuda --only ssd > /dev/null 2>&1
    echo "== ncu setting $n ($s) rc=$?"
    python3 "$here/ncu_summary.py" "$OUT/ncu_$n.csv" --top 12
  done
fi
date -u
