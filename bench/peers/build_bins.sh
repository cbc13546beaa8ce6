#!/bin/bash
# Builds the binaries the device scripts carry, on the machine that calls the
# device (the device has no Rust), into .carry/bins/ (git-ignored, and not
# kept between sessions):
# - ssm.xz: main, `--features cuda,host-profile`, debug info stripped and
#   symbols kept (profile_host.sh's flamegraphs need them; it serves as
#   ssm-prof through a link). About 12 minutes on 2 cores from clean.
# - with CONTROL=1, also ssm-control.xz: main with the one-stream fix undone
#   (`on_callers_stream` returning the work as is), the control of
#   session_stream_fix.sh and session_listops_rate.sh. About 10 more
#   minutes. The edit is made in the tree and undone on exit, so run this
#   with no uncommitted change to crates/statespace/src/host_pool.rs.
# - with NEXT="PATCH [PATCH2 [PATCH3]]", also ssm-next.xz, ssm-next2.xz, ...:
#   main with each patch applied alone (variants kept in bench/variants/
#   until a device command has measured them; the A/B scripts run them as
#   .carry/ssm-next, ...). Each patch is applied in the tree and reverted
#   after its build (or on exit), so run this with a clean tree. About 6–10
#   minutes a patch.
set -eu
cd "$(dirname "$0")/../.."
mkdir -p .carry/bins
cargo build --release -p statespace-cli --features cuda,host-profile
strip --strip-debug -o /tmp/ssm-build-bins target/release/ssm
xz -9 -T2 -c /tmp/ssm-build-bins > .carry/bins/ssm.xz
echo "built .carry/bins/ssm.xz ($(git rev-parse --short HEAD))"
suffix=""
for patch in ${NEXT:-}; do
  git diff --quiet || { echo "build_bins: NEXT needs a clean tree" >&2; exit 1; }
  git apply "$patch"
  trap 'git apply -R "$patch"' EXIT
  cargo build --release -p statespace-cli --features cuda,host-profile
  strip --strip-debug -o /tmp/ssm-build-bins target/release/ssm
  xz -9 -T2 -c /tmp/ssm-build-bins > ".carry/bins/ssm-next$suffix.xz"
  git apply -R "$patch"
  trap - EXIT
  echo "built .carry/bins/ssm-next$suffix.xz (main with $patch)"
  suffix=$(( ${suffix:-1} + 1 ))
done
[ "${CONTROL:-0}" = 1 ] || exit 0
pool=crates/statespace/src/host_pool.rs
git diff --quiet -- "$pool" || { echo "build_bins: $pool has uncommitted changes" >&2; exit 1; }
trap 'git checkout -- "$pool"' EXIT
python3 - "$pool" <<'PY'
import sys
path = sys.argv[1]
text = open(path).read()
fix = "    let stream = cubecl::stream_id::StreamId::current();\n    move || stream.executes(work)\n}"
if fix not in text:
    sys.exit(f"{path}: the stream fix is not where build_bins.sh expects it")
open(path, "w").write(text.replace(fix, "    work\n}", 1))
PY
cargo build --release -p statespace-cli --features cuda
strip -o /tmp/ssm-build-bins target/release/ssm
xz -9 -T2 -c /tmp/ssm-build-bins > .carry/bins/ssm-control.xz
echo "built .carry/bins/ssm-control.xz (main less the stream fix)"
