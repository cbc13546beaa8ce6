#!/bin/bash
# Where the 16-bit LM step's time goes (issue 21: bf16 training at 0.51×
# mamba_ssm under autocast): Nsight Compute kernel times of one mamba-130m
# training step (`ssm bench train-lm`, 8 × 1024, 2 warm-up steps and 1
# timed; the first NCU_LAUNCHES launches profiled, about one step) in each
# of PRECISIONS (default "f32 bf16"), summarised per kernel name by
# ncu_summary.py. Then, with PEERS=1, the same for mamba_ssm's step
# under bf16 autocast (e2e_mamba.py; needs its extension built as
# run_precision.sh describes). Expects .carry/ssm (unpack_bins.sh).
# Writes $OUT/ncu_{f32,bf16,peer_bf16}.csv and prints the summaries.
# Launch caps: NCU_LAUNCHES (ours, default 4500: a mamba-130m step is about
# 3,500 launches, and ncu serialises each, so 20,000 outlast a command),
# NCU_PEER_LAUNCHES (6000).
set -u
OUT=${OUT:-.}
here=$(cd "$(dirname "$0")" && pwd)
source "$here/unpack_bins.sh"
# ncu SECONDS LAUNCHES LOG CMD...
ncu() {
  timeout "$1" /usr/local/cuda/bin/ncu --metrics gpu__time_duration.sum --csv --cache-control none \
    --clock-control none -c "$2" --log-file "$3" "${@:4}" > /dev/null 2>&1
  echo "ncu $(basename "$3") rc=$?"
}
for precision in ${PRECISIONS:-f32 bf16}; do
  ncu 200 "${NCU_LAUNCHES:-4500}" "$OUT/ncu_$precision.csv" .carry/ssm bench train-lm --device cuda --model mamba-130m \
    --batch 8 --len 1024 --steps 1 --precision "$precision"
  echo "== ours, $precision (first ${NCU_LAUNCHES:-4500} launches)"
  python3 "$here/ncu_summary.py" "$OUT/ncu_$precision.csv" --top 20
done
if [ "${PEERS:-0}" = 1 ]; then
  export MAMBA_SRC=$PWD/.carry/mamba-src PYTHONPATH=$here${PYTHONPATH:+:$PYTHONPATH}
  export TORCH_EXTENSIONS_DIR=${TORCH_EXTENSIONS_DIR:-$PWD/target/torch-extensions}
  # The first launches only (about the warm-up steps): a whole run under
  # ncu's replay would outlast the command.
  TRAIN_PRECISIONS=bf16 DECODE=0 ncu 240 "${NCU_PEER_LAUNCHES:-6000}" "$OUT/ncu_peer_bf16.csv" \
    python3 "$here/e2e_mamba.py"
  echo "== mamba_ssm, bf16 autocast (its first launches)"
  python3 "$here/ncu_summary.py" "$OUT/ncu_peer_bf16.csv" --top 20
fi
