# Sourced by the A/B scripts of variant builds (ab_scan_build.sh,
# ab_ssd_build.sh): passing_variants SCRIPT SECONDS PARITY_ARGS... runs each
# carried variant in VARIANTS (default "ssm-next ssm-next2 ssm-next3") through
# `selftest --device cuda PARITY_ARGS` ($OUT/parity_VARIANT.txt), prints its
# last line (and the failures of one that fails), and sets `builds` to main
# (ssm) and the variants that passed; exits naming SCRIPT when main was not
# carried or no variant passed.
passing_variants() {
  local script=$1 seconds=$2 v rc
  shift 2
  [ -x .carry/ssm ] || { echo "$script: .carry/bins/ssm.xz was not carried" >&2; exit 1; }
  builds=ssm
  for v in ${VARIANTS:-ssm-next ssm-next2 ssm-next3}; do
    [ -x .carry/$v ] || continue
    timeout "$seconds" .carry/$v selftest --device cuda "$@" > "$OUT/parity_$v.txt" 2>&1
    rc=$?
    echo "$v parity rc=$rc: $(tail -n 1 "$OUT/parity_$v.txt")"
    if [ $rc = 0 ]; then builds="$builds $v"; else grep -v '^ok' "$OUT/parity_$v.txt" | tail -n 12; fi
  done
  [ "$builds" != ssm ] || { echo "$script: no variant to time" >&2; exit 1; }
}
