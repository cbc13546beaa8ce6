#!/bin/bash
# A/B of a build of the selective mixers' glue (bench/variants/*.patch as
# .carry/bins/ssm-next.xz) against main (ssm.xz), in one device command: the
# variant's golden cases of Mamba-3, Hydra, the HF checkpoints and SSD on the
# GPU with the ops and mixed-precision parity groups; then the mamba2-130m LM
# step (f32, bf16) and the Mamba-3 rows of `ssm bench kernels`, the two
# builds interleaved over ROUNDS rounds (default 2); with NCU=N, Nsight
# Compute's kernel times of main's first N launches of the Mamba-3 kernel
# bench, and with NCU_NEXT=1 the variant's too. Carry both binaries
# (`NEXT=bench/variants/X.patch bash bench/peers/build_bins.sh`) and
# .carry/golden. About 5 minutes (first run 2026-12-06 as ab_gated_norm.sh,
# for the gated-norm variant).
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
machine_header
timeout 170 .carry/ssm-next selftest --device cuda --only mamba3_ --only hydra_ --only hf_ \
  --only ssd_ --parity ops --parity mixed-precision > "$OUT/selftest_next.txt" 2>&1
echo "selftest (variant) rc=$?: $(grep -c '^ok' "$OUT/selftest_next.txt") ok"
grep -v '^ok' "$OUT/selftest_next.txt" | tail -6
for r in $(seq "${ROUNDS:-2}"); do for b in ssm ssm-next; do
  echo "== $b round $r"
  for p in f32 bf16; do
    timeout 120 .carry/$b bench train-lm --device cuda --model mamba2-130m --precision $p --steps 5 2>&1 | tail -1
  done
  timeout 120 .carry/$b bench kernels --device cuda --only mamba3 2>&1 | grep -i "mamba3" | tail -4
done; done 2>&1 | tee "$OUT/ab_mixer_build.txt"
if [ -n "${NCU:-}" ]; then
  builds=ssm
  [ "${NCU_NEXT:-0}" = 1 ] && builds="ssm ssm-next"
  for b in $builds; do
    date -u
    timeout 200 /usr/local/cuda/bin/ncu --metrics gpu__time_duration.sum --csv --cache-control none \
      --clock-control none -c "$NCU" --log-file "$OUT/ncu_mamba3_$b.csv" \
      .carry/$b bench kernels --device cuda --only mamba3 > /dev/null 2>&1
    echo "ncu $b rc=$?"
    python3 "$here/ncu_summary.py" "$OUT/ncu_mamba3_$b.csv" --top 40 > "$OUT/ncu_mamba3_${b}_summary.txt"
    head -25 "$OUT/ncu_mamba3_${b}_summary.txt"
  done
fi
date -u
