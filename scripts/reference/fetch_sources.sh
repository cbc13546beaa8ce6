#!/usr/bin/env bash
# Fetches the official sources the reference scripts import, into the
# git-ignored folder target/ref-src/ (nothing of them is committed).
#
#   scripts/reference/fetch_sources.sh
#
# By default clones from GitHub at the pinned commits. If GitHub is not
# reachable, point S4_GIT_DIR / MAMBA_GIT_DIR / SAFARI_GIT_DIR / S5_GIT_DIR at an existing clone or bare
# mirror of the repository (SPACETIME_GIT_DIR for HazyResearch/spacetime); the pinned commit (or HEAD if it is absent) is
# exported from it with `git archive`.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
DEST="$ROOT/target/ref-src"
S4_COMMIT=e757cef57d89e448c413de7325ed5601aceaac13
MAMBA_COMMIT=e9594ce1c732d97440f0332fdc43170a2294dbfa
SAFARI_COMMIT=02220c69d247e5473616cd053a443ad99fd2559b
S5_COMMIT=3c18fdb6b06414da35e77b94b9cd855f6a95ef17
SPACETIME_COMMIT=7b7398caf3636d11dde4606eaeb96ea557aeee0e

export_repo() { # name url commit gitdir-override paths...
  local name=$1 url=$2 commit=$3 gitdir=$4; shift 4
  rm -rf "$DEST/$name" && mkdir -p "$DEST/$name"
  if [ -z "$gitdir" ]; then
    gitdir="$DEST/.$name.git"
    [ -d "$gitdir" ] || git clone --bare --filter=blob:none "$url" "$gitdir"
  fi
  local rev=$commit
  git --git-dir="$gitdir" cat-file -e "$commit^{commit}" 2>/dev/null || {
    echo "warning: $commit not in $gitdir, using HEAD" >&2; rev=HEAD; }
  git --git-dir="$gitdir" archive "$rev" "$@" | tar -x -C "$DEST/$name"
  git --git-dir="$gitdir" rev-parse "$rev" > "$DEST/$name/COMMIT"
  echo "$name @ $(cat "$DEST/$name/COMMIT") -> $DEST/$name"
}

export_repo s4 https://github.com/state-spaces/s4 $S4_COMMIT "${S4_GIT_DIR:-}" models/s4 \
  src/models/sequence/modules/lssl.py src/models/hippo src/models/functional/krylov.py \
  src/models/functional/toeplitz.py
export_repo mamba https://github.com/state-spaces/mamba $MAMBA_COMMIT "${MAMBA_GIT_DIR:-}" \
  mamba_ssm/modules/ssd_minimal.py mamba_ssm/ops/triton/layernorm_gated.py mamba_ssm/modules/mamba2.py \
  mamba_ssm/models/mixer_seq_simple.py mamba_ssm/models/config_mamba.py
export_repo safari https://github.com/HazyResearch/safari $SAFARI_COMMIT "${SAFARI_GIT_DIR:-}" \
  src/models/sequence/hyena.py src/models/sequence/h3.py \
  src/models/sequence/ssm/ss_kernel.py src/models/sequence/ssm/ss_kernel_diag.py \
  src/models/sequence/ssm/ss_kernel_shift.py src/models/sequence/ssm/dplr.py \
  src/models/sequence/ssm/hippo.py src/ops/vandermonde.py src/ops/krylov.py src/ops/toeplitz.py
export_repo S5 https://github.com/lindermanlab/S5 $S5_COMMIT "${S5_GIT_DIR:-}" \
  s5/ssm.py s5/ssm_init.py s5/layers.py
export_repo spacetime https://github.com/HazyResearch/spacetime $SPACETIME_COMMIT "${SPACETIME_GIT_DIR:-}" \
  setup/args.py setup/configs/model.py configs/model
