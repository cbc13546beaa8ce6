#!/bin/bash
# A/B of bench/variants/gated-norm-fused.patch (the gated RMSNorm of Mamba-2,
# Hydra and Mamba-3 through the fused norm kernel) against main, in one device
# command: the variant's golden cases of those mixers on the GPU and the ops
# and mixed-precision parity groups; then the mamba2-130m LM step (f32, bf16)
# and the Mamba-3 rows of `ssm bench kernels`, the two builds interleaved over
# ROUNDS rounds (default 2); with NCU=N, Nsight Compute's kernel times of
# main's first N launches of the Mamba-3 kernel bench (its glue's share).
# Carry .carry/bins/ssm.xz (main) and ssm-next.xz (the variant) built by
# `NEXT=bench/variants/gated-norm-fused.patch bash bench/peers/build_bins.sh`,
# and .carry/golden. About 5 minutes.
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
echo "host: $(lscpu | sed -n 's/^Model name: *//p' | head -n 1), $(nproc) cores"
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
done; done 2>&1 | tee "$OUT/ab_gated_norm.txt"
if [ -n "${NCU:-}" ]; then
  date -u
  timeout 200 /usr/local/cuda/bin/ncu --metrics gpu__time_duration.sum --csv --cache-control none \
    --clock-control none -c "$NCU" --log-file "$OUT/ncu_mamba3.csv" \
    .carry/ssm bench kernels --device cuda --only mamba3 > /dev/null 2>&1
  echo "ncu rc=$?"
  python3 "$here/ncu_summary.py" "$OUT/ncu_mamba3.csv" --top 40 > "$OUT/ncu_mamba3_summary.txt"
  head -45 "$OUT/ncu_mamba3_summary.txt"
fi
date -u
