#!/usr/bin/env bash
# The CLI's OpenMP defaults (src/cli/omp_defaults.c), read back from the runtime itself
# (OMP_DISPLAY_ENV prints what libgomp / libomp runs with, once per start: the last is the
# one the command ran with): a passive wait policy and a short spin count (1000) for the
# commands that compute unless the caller chose a policy or a spin count, and one thread
# per CPU of the affinity mask.
set -euo pipefail
source "$(dirname "$0")/expect.sh"
bin=${POSTERIOR_BIN:?}
settings() { env -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT -u OMP_NUM_THREADS OMP_DISPLAY_ENV=verbose "$@" 2>&1 >/dev/null; }
value() { # NAME CMD...: the runtime's value of setting NAME
    local name=$1
    shift
    local out
    out=$(settings "$@")
    grep -o "$name *= *'[^']*'" <<<"$out" | tail -n 1 | sed "s/.*= *'//; s/'$//" || true
}
# libgomp (gcc) shows an unset policy as PASSIVE too; its spin count tells them apart:
# 0 when passive alone, 300000 when unset, 1000 as the CLI sets it. libomp (clang) shows no GOMP_SPINCOUNT.
check() { # WANT_POLICY WANT_SPIN CMD...
    local want_policy=$1 want_spin=$2
    shift 2
    local p s
    p=$(value OMP_WAIT_POLICY "$@")
    s=$(value GOMP_SPINCOUNT "$@")
    [ "$p" = "$want_policy" ] || fail "'$*': OMP_WAIT_POLICY '$p', want $want_policy"
    [ -z "$s" ] || [ -z "$want_spin" ] || [ "$s" = "$want_spin" ] || fail "'$*': GOMP_SPINCOUNT '$s', want $want_spin"
}
check PASSIVE 1000 "$bin" sample --help
check ACTIVE "" OMP_WAIT_POLICY=active "$bin" sample --help
check PASSIVE 10000 GOMP_SPINCOUNT=10000 "$bin" sample --help # a spin count is a choice too
check PASSIVE 1000 timeout 10 env OMP_WAIT_POLICY= "$bin" sample --help # empty: unset, started again once
check PASSIVE 1000 "${POSTERIOR_BUILD:?}/bench_dpg" --help   # a benchmark runs as the CLI does
# a command that does not compute is started once, as it is: as many settings blocks as a
# computing command that need not start again (one per OpenMP runtime loaded: clang's
# build has libomp and, through OpenBLAS, libgomp)
once=$(settings OMP_WAIT_POLICY=passive "$bin" sample --help | grep -c "OMP_WAIT_POLICY")
[ "$(settings "$bin" pep8 --help | grep -c "OMP_WAIT_POLICY")" -eq "$once" ] || fail "pep8 started twice"

if command -v taskset >/dev/null && [ "$(nproc)" -gt 1 ]; then
    n=$(value OMP_NUM_THREADS taskset -c 0 "$bin" sample --help)
    [ "$n" = 1 ] || fail "taskset -c 0: OMP_NUM_THREADS '$n', want 1"
fi
echo "omp defaults: ok"
