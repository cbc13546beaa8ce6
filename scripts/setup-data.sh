#!/usr/bin/env bash
# Installs the data sets that ship inside registry packages into data/
# (or $SSM_DATA_DIR), checking each file's SHA-256.
#
#   digits.csv.gz — the 8×8 handwritten digits of scikit-learn
#                   (sklearn/datasets/data/digits.csv.gz in its wheel)
#   ucr/<Name>/<Name>_{TRAIN,TEST}.ts — UCR/UEA classification sets that
#                   ship in the sktime wheel (sktime/datasets/data/), the
#                   wheel checked against its SHA-256
#   series/<Name>.csv — Airline, Lynx and ShampooSales, small forecasting
#                   series from the same wheel
#
# Needs python3 with pip; downloads two wheels from PyPI, installs nothing.
set -euo pipefail

DATA_DIR="${SSM_DATA_DIR:-$(cd "$(dirname "$0")/.." && pwd)/data}"
SKLEARN_VERSION="1.9.1"
DIGITS_SHA256="09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"

SKTIME_VERSION="1.2.0"
SKTIME_WHEEL_SHA256="dbffc6731d2d683b668dceb5e2bbc5804bebc8446b4c580803a281684d90e4ae"
UCR_SETS="ACSF1 ArrowHead BasicMotions GunPoint ItalyPowerDemand JapaneseVowels OSULeaf PLAID"

mkdir -p "$DATA_DIR"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Small forecasting series of the same wheel (sktime/datasets/data/): the
# monthly airline passengers, the yearly Lynx trappings and the monthly
# shampoo sales, each a CSV of a timestamp and one value column.
FORECAST_SERIES="Airline Lynx ShampooSales"

install_sktime() {
    local ucr_marker="$DATA_DIR/ucr/.sktime-$SKTIME_VERSION"
    local series_marker="$DATA_DIR/series/.sktime-$SKTIME_VERSION"
    if [ -f "$ucr_marker" ] && [ -f "$series_marker" ]; then
        echo "ucr, series: $DATA_DIR/ucr and $DATA_DIR/series already installed from sktime $SKTIME_VERSION"
        return
    fi
    echo "sktime: downloading the sktime $SKTIME_VERSION wheel from PyPI"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$work/sktime" \
        "sktime==$SKTIME_VERSION"
    local wheel
    wheel="$(ls "$work"/sktime/sktime-*.whl)"
    if ! echo "$SKTIME_WHEEL_SHA256  $wheel" | sha256sum --check --status; then
        echo "sktime: the wheel has SHA-256 $(sha256sum "$wheel" | cut -d' ' -f1), expected $SKTIME_WHEEL_SHA256" >&2
        exit 1
    fi
    if [ ! -f "$ucr_marker" ]; then
        rm -rf "$DATA_DIR/ucr.tmp"
        python3 - "$wheel" "$DATA_DIR/ucr.tmp" $UCR_SETS <<'PY'
import os, sys, zipfile
wheel, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
with zipfile.ZipFile(wheel) as z:
    for name in names:
        os.makedirs(os.path.join(out, name), exist_ok=True)
        for part in ("TRAIN", "TEST"):
            data = z.read(f"sktime/datasets/data/{name}/{name}_{part}.ts")
            with open(os.path.join(out, name, f"{name}_{part}.ts"), "wb") as f:
                f.write(data)
PY
        touch "$DATA_DIR/ucr.tmp/.sktime-$SKTIME_VERSION"
        rm -rf "$DATA_DIR/ucr" && mv "$DATA_DIR/ucr.tmp" "$DATA_DIR/ucr"
        echo "ucr: wrote $UCR_SETS to $DATA_DIR/ucr (wheel SHA-256 verified)"
    fi
    if [ ! -f "$series_marker" ]; then
        rm -rf "$DATA_DIR/series.tmp"
        python3 - "$wheel" "$DATA_DIR/series.tmp" $FORECAST_SERIES <<'PY'
import os, sys, zipfile
wheel, out, names = sys.argv[1], sys.argv[2], sys.argv[3:]
os.makedirs(out, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name in names:
        data = z.read(f"sktime/datasets/data/{name}/{name}.csv")
        with open(os.path.join(out, f"{name}.csv"), "wb") as f:
            f.write(data)
PY
        touch "$DATA_DIR/series.tmp/.sktime-$SKTIME_VERSION"
        rm -rf "$DATA_DIR/series" && mv "$DATA_DIR/series.tmp" "$DATA_DIR/series"
        echo "series: wrote $FORECAST_SERIES to $DATA_DIR/series (wheel SHA-256 verified)"
    fi
}
install_sktime

target="$DATA_DIR/digits.csv.gz"
if [ -f "$target" ] && echo "$DIGITS_SHA256  $target" | sha256sum --check --status; then
    echo "digits: $target already present and verified"
    exit 0
fi
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
