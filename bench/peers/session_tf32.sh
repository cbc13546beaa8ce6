#!/bin/bash
# TF32 products (`optim.tf32`) on the GPU in one device command: the ops
# parity group, whose TF32 checks compare f32 products on the tensor cores
# with the CPU's f32 and check that the setting moves them; then the ListOps
# training loop (configs/listops-s4d.toml, evaluating every 300 steps on 128
# examples) for SECONDS_EACH (default 75) with f32 products and with TF32,
# through train/run_loop_throughput.sh: steps/s and GPU utilisation.
# Carry .carry/bins/ssm.xz (a build with optim.tf32). About 4 minutes.
set -u
export OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
machine_header
timeout 200 .carry/ssm selftest --device cuda --parity ops > "$OUT/parity_ops_tf32.txt" 2>&1
echo "== parity rc=$?"
grep -E "TF32|passed, " "$OUT/parity_ops_tf32.txt"
# The same binary with the key set on every run it starts.
printf '#!/bin/bash\nexec %s "$@" --set optim.tf32=true\n' "$PWD/.carry/ssm" > .carry/ssm-tf32
chmod +x .carry/ssm-tf32
bash "$here/train/run_loop_throughput.sh" "${SECONDS_EACH:-75}" f32=.carry/ssm tf32=.carry/ssm-tf32 -- \
  --config configs/listops-s4d.toml --set schedule.eval_every=300 --set task.val_size=128
date -u
