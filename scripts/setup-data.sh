#!/usr/bin/env bash
# Installs the data sets that ship inside registry packages into data/
# (or $SSM_DATA_DIR), checking each file's SHA-256.
#
#   digits.csv.gz — the 8×8 handwritten digits of scikit-learn
#                   (sklearn/datasets/data/digits.csv.gz in its wheel)
#
# Needs python3 with pip; downloads one wheel from PyPI, installs nothing.
set -euo pipefail

DATA_DIR="${SSM_DATA_DIR:-$(cd "$(dirname "$0")/.." && pwd)/data}"
SKLEARN_VERSION="1.9.1"
DIGITS_SHA256="09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"

mkdir -p "$DATA_DIR"
target="$DATA_DIR/digits.csv.gz"
if [ -f "$target" ] && echo "$DIGITS_SHA256  $target" | sha256sum --check --status; then
    echo "digits: $target already present and verified"
    exit 0
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "digits: downloading the scikit-learn $SKLEARN_VERSION wheel from PyPI"
python3 -m pip download --quiet --no-deps --only-binary=:all: \
    --python-version 3.11 --implementation cp --platform manylinux_2_28_x86_64 \
    -d "$work" "scikit-learn==$SKLEARN_VERSION"
wheel="$(ls "$work"/scikit_learn-*.whl)"
python3 - "$wheel" "$work/digits.csv.gz" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    data = wheel.read("sklearn/datasets/data/digits.csv.gz")
open(sys.argv[2], "wb").write(data)
PY
if ! echo "$DIGITS_SHA256  $work/digits.csv.gz" | sha256sum --check --status; then
    echo "digits: the file in the wheel has SHA-256 $(sha256sum "$work/digits.csv.gz" | cut -d' ' -f1), expected $DIGITS_SHA256" >&2
    exit 1
fi
mv "$work/digits.csv.gz" "$target.tmp" && mv "$target.tmp" "$target"
echo "digits: wrote $target (SHA-256 verified)"
