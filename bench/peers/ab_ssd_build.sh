#!/bin/bash
# A/B of SSD (Mamba-2) kernel variant builds against main in one device
# command, as ab_scan_build.sh does for the selective scan. Each variant
# carried (.carry/bins/ssm-next.xz, ...: `NEXT="bench/variants/A.patch"
# bash bench/peers/build_bins.sh`) first runs the SSD and ops parity groups;
# one that fails is not timed. Then `ssm bench kernels --only ssd` (bf16,
# 8 × 2048 and 1 × 65536, 24 heads × 64, N 128: forward and
# forward + backward) of main and the passing variants, interleaved over
# ROUNDS (default 3). With NCU=1 (default), Nsight Compute's time per SSD
# kernel over the first NCU_LAUNCHES (default 160) SSD launches of each build ($OUT/ncu_BUILD.csv and
# ncu_summary.py's table; about 40 s a build).
# VARIANTS (default "ssm-next ssm-next2 ssm-next3") names the variants to
# measure when the carried ones are for different kernels.
# Carry .carry/bins/ssm.xz (main) and the variants. About 1 minute a build
# without NCU.
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
[ -x .carry/ssm ] || { echo "ab_ssd_build: .carry/bins/ssm.xz was not carried" >&2; exit 1; }
builds=ssm
for v in ${VARIANTS:-ssm-next ssm-next2 ssm-next3}; do
  [ -x .carry/$v ] || continue
  timeout 240 .carry/$v selftest --device cuda --parity ssd --parity ops > "$OUT/parity_$v.txt" 2>&1
  rc=$?
  echo "$v parity rc=$rc: $(tail -n 1 "$OUT/parity_$v.txt")"
  if [ $rc = 0 ]; then builds="$builds $v"; else grep -v '^ok' "$OUT/parity_$v.txt" | tail -n 12; fi
done
[ "$builds" != ssm ] || { echo "ab_ssd_build: no variant to time" >&2; exit 1; }
for r in $(seq "${ROUNDS:-3}"); do
  for b in $builds; do
    timeout 120 .carry/$b bench kernels --device cuda --only ssd 2>&1 | grep '^{' | sed "s/^/$b round=$r /"
  done
done 2>&1 | tee "$OUT/ab_ssd_kernels.txt"
if [ "${NCU:-1}" = 1 ]; then
  for b in $builds; do
    # The first SSD launches of the bench (160: its forward-only runs at
    # 8 × 2048, then forward + backward ones; 40 covered the forward alone).
    timeout 150 /usr/local/cuda/bin/ncu --kernel-name regex:ssd_ -c "${NCU_LAUNCHES:-160}" --metrics gpu__time_duration.sum \
      --csv --log-file "$OUT/ncu_$b.csv" .carry/$b bench kernels --device cuda --only ssd > /dev/null 2>&1
    echo "== ncu $b rc=$?"
    python3 "$here/ncu_summary.py" "$OUT/ncu_$b.csv" --top 12
  done
fi
date -u
