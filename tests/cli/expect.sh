# Shared by the CLI test scripts (sourced): fail MESSAGE, and expect_fail CODE NEEDLE CMD...
# (CMD exits with CODE and its stderr contains NEEDLE).
fail() { echo "FAIL: $*" >&2; exit 1; }
expect_fail() { # code needle cmd...
    local code=$1 needle=$2
    shift 2
    set +e
    err=$("$@" 2>&1 >/dev/null)
    rc=$?
    set -e
    [ "$rc" -eq "$code" ] || fail "'$*' exited $rc, want $code: $err"
    echo "$err" | grep -qF -- "$needle" || fail "'$*': message '$err' lacks '$needle'"
}
