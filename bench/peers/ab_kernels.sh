#!/bin/bash
# A/B timing of two ssm builds in one device command, interleaved so that both see the
# same machine state: ab_kernels.sh BIN_A BIN_B [ONLY] [ROUNDS]
#   BIN_A, BIN_B  two `--features cuda` release binaries (e.g. of two commits)
#   ONLY          the `ssm bench kernels --only` group (default scan)
#   ROUNDS        alternations (default 3)
# Prints each JSON line prefixed with the binary's label (A or B) and the round.
set -u
a=$1; b=$2; only=${3:-scan}; rounds=${4:-3}
for r in $(seq 1 "$rounds"); do
  for side in A B; do
    bin=$a; [ "$side" = B ] && bin=$b
    timeout 120 "$bin" bench kernels --device cuda --only "$only" 2>&1 | sed "s/^/$side round=$r /"
  done
done
