#!/usr/bin/env bash
# A clang build's tests run with the switch that keeps libomp from aborting on an empty
# registration mark (/dev/shm/__KMP_REGISTERED_LIB_<pid>_<uid>) left by a killed process
# whose pid this process was given (CMakeLists.txt, docs/building.md "A clang build and
# libomp"). This plants such a mark for the shell's own pid, then execs the CLI under that
# pid: it must start. Without the switch it aborts (printed, not asserted: that is libomp's
# behaviour, not ours). gcc builds (libgomp) keep no such mark and skip.
set -euo pipefail
. "$(dirname "$0")/build_config.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
bin=${POSTERIOR_BIN:?POSTERIOR_BIN must name the CLI}
libs=$(ldd "$bin") # not `ldd | grep -q`: under pipefail, grep's early exit can fail ldd with SIGPIPE
grep -q 'libomp\.so' <<<"$libs" || skip "not linked to libomp ($(cache_value CMAKE_C_COMPILER))"
[ -d /dev/shm ] && [ -w /dev/shm ] || skip "no writable /dev/shm"
uid=$(id -u)

# start the CLI under the pid of a shell that first leaves an empty mark for that pid (the
# mark's path into $1), with the switch set ($2 = TRUE) or removed ($2 = unset)
start_on_empty_mark() {
    local with=(env KMP_DUPLICATE_LIB_OK=TRUE)
    [ "$2" = unset ] && with=(env -u KMP_DUPLICATE_LIB_OK)
    "${with[@]}" bash -c 'm=/dev/shm/__KMP_REGISTERED_LIB_$$_'"$uid"'; echo $m > "$1"; truncate -s 1024 $m
                          exec "$2" target init --help' _ "$1" "$bin"
}

marks=$(mktemp)
trap 'xargs -r rm -f < "$marks"; rm -f "$marks"' EXIT
for env_ok in TRUE unset; do
    out=$(mktemp)
    rc=0
    start_on_empty_mark "$out.mark" $env_ok >"$out" 2>&1 || rc=$?
    cat "$out.mark" >> "$marks"
    if [ $env_ok = TRUE ]; then
        [ $rc -eq 0 ] || fail "with KMP_DUPLICATE_LIB_OK=TRUE, exit $rc on an empty mark: $(tail -3 "$out")"
        grep -q '^usage: posterior target init' "$out" || fail "no help text: $(head -3 "$out")"
        [ "${KMP_DUPLICATE_LIB_OK:-}" = TRUE ] || fail "the tests' environment lacks KMP_DUPLICATE_LIB_OK=TRUE"
    else
        echo "without the switch: exit $rc ($(grep -o 'OMP: Error #[0-9]*' "$out" || echo no libomp error))"
    fi
    rm -f "$out" "$out.mark"
done
echo "a clang build starts on an empty libomp mark, and its tests run with the switch"
