#!/bin/bash
# The bias op's column sum (two-stage on CubeCL): selftest, then the S4D classifier step
# interleaved against the previous build (4c64d0d). Layout: .carry/bins/{ssm,ssm-prev}.xz
# (stripped release builds with --features cuda, xz-compressed) and .carry/golden.
set -u
OUT=${OUT:-.}
export SSM_GOLDEN_DIR=$PWD/.carry/golden
for b in ssm ssm-prev; do python3 -c "import lzma,sys; open(sys.argv[2],'wb').write(lzma.open(sys.argv[1]).read())" .carry/bins/$b.xz .carry/$b; chmod +x .carry/$b; done
timeout 170 .carry/ssm selftest --device cuda > $OUT/selftest.txt 2>&1; echo "selftest rc=$?"
grep -c "^ok" $OUT/selftest.txt; grep -v "^ok" $OUT/selftest.txt | tail -6; grep "add bias" $OUT/selftest.txt | head -3
for r in 1 2; do for bin in ssm-prev ssm; do
  echo "== $bin round $r"
  timeout 60 .carry/$bin bench train --device cuda --mixer s4d --batch 64 --len 1024 --d-model 128 --layers 4 --steps 10 2>&1 | tail -1
done; done 2>&1 | tee $OUT/ab_s4d.txt
