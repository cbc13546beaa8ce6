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
# measure when the carried ones are for different kernels; NCU_BUILDS (default
# all that pass) the builds Nsight Compute profiles.
# Carry .carry/bins/ssm.xz (main) and the variants. About 1 minute a build
# without NCU.
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
source "$here/passing_variants.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
passing_variants ab_ssd_build 240 --parity ssd --parity ops
for r in $(seq "${ROUNDS:-3}"); do
  for b in $builds; do
    timeout 120 .carry/$b bench kernels --device cuda --only ssd 2>&1 | grep '^{' | sed "s/^/$b round=$r /"
  done
done 2>&1 | tee "$OUT/ab_ssd_kernels.txt"
if [ "${NCU:-1}" = 1 ]; then
  for b in ${NCU_BUILDS:-$builds}; do
    case " $builds " in *" $b "*) ;; *) continue ;; esac
    # The first SSD launches of the bench (160: its forward-only runs at
    # 8 × 2048, then forward + backward ones; 40 covered the forward alone).
    timeout 150 /usr/local/cuda/bin/ncu --kernel-name regex:ssd_ -c "${NCU_LAUNCHES:-160}" \
      --metrics gpu__time_duration.sum,launch__registers_per_thread --csv --log-file "$OUT/ncu_$b.csv" .carry/$b bench kernels --device cuda --only ssd > /dev/null 2>&1
    echo "== ncu $b rc=$?"
    python3 "$here/ncu_summary.py" "$OUT/ncu_$b.csv" --top 12
  done
fi
date -u
