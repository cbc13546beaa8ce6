#!/bin/bash
# A/B of two builds interleaved in one device command, after the new build's selftest:
# the mamba-130m LM training step, the S4D classifier step and decoding, two rounds.
# Layout: .carry/bins/{ssm,ssm-prev}.xz (stripped release builds with --features cuda,
# xz-compressed: two binaries exceed the device's 64 MiB carry limit) and .carry/golden
# (a copy of ../shared/golden). Optional: NCU_LAUNCHES=N profiles the new build's first
# N kernel launches of one LM step with Nsight Compute (kernel times only), NCU_S4D_LAUNCHES=N
# the first N of two S4D classifier steps; DECODE=0 skips decoding. Writes to $OUT.
set -u
OUT=${OUT:-.}
source "$(dirname "$0")/unpack_bins.sh"
source "$(dirname "$0")/peak.sh"
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
timeout 170 .carry/ssm selftest --device cuda > $OUT/selftest.txt 2>&1; echo "selftest rc=$?"
grep -c "^ok" $OUT/selftest.txt; grep -v "^ok" $OUT/selftest.txt | tail -8
for r in 1 2; do for bin in ssm-prev ssm; do
  echo "== $bin round $r"
  timeout 100 .carry/$bin bench train-lm --device cuda --batch 8 --len 1024 --steps 5 2>&1 | tail -1
  timeout 60 .carry/$bin bench train --device cuda --mixer s4d --batch 64 --len 1024 --d-model 128 --layers 4 --steps 10 2>&1 | tail -1
done; done 2>&1 | tee $OUT/ab_train.txt
[ "${DECODE:-1}" = 0 ] || for bin in ssm-prev ssm; do
  echo "== $bin"
  for b in 1 64; do timeout 60 .carry/$bin bench decode --device cuda --batch $b --tokens 128 2>&1 | tail -1; done
done 2>&1 | tee $OUT/ab_decode.txt
peak timeout 100 .carry/ssm bench train-lm --device cuda --batch 8 --len 1024 --steps 5 2>&1 | tail -2 | tee $OUT/peak_lm.txt
peak timeout 60 .carry/ssm bench train --device cuda --mixer s4d --batch 64 --len 1024 --d-model 128 --layers 4 --steps 10 2>&1 | tail -2 | tee $OUT/peak_s4d.txt
if [ -n "${NCU_LAUNCHES:-}" ]; then
  date -u
  timeout 200 /usr/local/cuda/bin/ncu --metrics gpu__time_duration.sum --csv --cache-control none \
    --clock-control none -c "$NCU_LAUNCHES" --log-file $OUT/ncu_lm.csv \
    .carry/ssm bench train-lm --device cuda --batch 8 --len 1024 --steps 1 > /dev/null 2>&1
  echo "ncu rc=$?"
fi
if [ -n "${NCU_S4D_LAUNCHES:-}" ]; then
  timeout 150 /usr/local/cuda/bin/ncu --metrics gpu__time_duration.sum --csv --cache-control none \
    --clock-control none -c "$NCU_S4D_LAUNCHES" --log-file $OUT/ncu_s4d.csv \
    .carry/ssm bench train --device cuda --mixer s4d --batch 64 --len 1024 --d-model 128 --layers 4 --steps 2 > /dev/null 2>&1
  echo "ncu s4d rc=$?"
fi
date -u
