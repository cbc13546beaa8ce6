#!/usr/bin/env bash
# Trains a step-target run (induction heads, MQAR) on the GPU, then tests its
# best checkpoint at longer lengths than it was trained on (`ssm eval --set
# task.test_length=…`), as the Mamba paper tests induction heads up to 2^20.
# Usage (device machine, binary carried in .carry/ssm):
#   bench/peers/train/run_length_tests.sh NAME MINUTES OUT_DIR [ssm train ARGS...]
# TESTS lists LENGTH:EXAMPLES:BATCH triples (default: 4096, 65536 and 2^20 tokens).
# The run folder comes back as OUT_DIR/NAME.tgz (checkpoints included) and its
# log as OUT_DIR/NAME.log. A run carried in as .carry/runs/NAME (an earlier
# command's NAME.tgz, unpacked) is resumed instead of started. Each test stops after EVAL_LIMIT seconds (120).
set -u
name=$1; minutes=$2; out=$3; shift 3
tests=${TESTS:-"4096:512:32 65536:256:8 1048576:64:2"}
ssm=.carry/ssm
mkdir -p "$out" runs
log="$out/$name.log"
start=$(date +%s)
if [ -f ".carry/runs/$name/config.toml" ]; then
  # Carried in from an earlier command (see run_segment.sh): resume it.
  rm -rf "runs/$name" && cp -r ".carry/runs/$name" "runs/$name"
  "$ssm" train --resume "runs/$name" --device cuda --stop-after "$minutes" >> "$log" 2>&1
else
  "$ssm" train --name "$name" --device cuda --stop-after "$minutes" "$@" >> "$log" 2>&1
fi
echo "train rc $? wall $(($(date +%s) - start)) s" >> "$log"
for t in $tests; do
  IFS=: read -r len examples batch <<< "$t"
  t0=$(date +%s)
  timeout "${EVAL_LIMIT:-120}" "$ssm" eval "runs/$name" --device cuda --recurrent-examples 0 \
    --set task.test_length="$len" --set task.test_size="$examples" \
    --set schedule.batch_size="$batch" >> "$log" 2>&1
  echo "eval length $len rc $? wall $(($(date +%s) - t0)) s" >> "$log"
done
tar czf "$out/$name.tgz" -C runs "$name"
