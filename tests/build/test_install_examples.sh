#!/usr/bin/env bash
# cmake --install into a temporary prefix, then every examples/*.c built against the
# installed library with `cc $(pkg-config --cflags --libs posterior) X.c` and run
# (each example checks its own result and exits non-zero when it is wrong); also
# the installed files, the soname, the installed CLI, and one static link.
set -euo pipefail
. "$(dirname "$0")/build_config.sh"
[ "$(cache_value POSTERIOR_SANITIZE)" = ON ] && skip "a sanitizer build (its library needs the ASan runtime first)"
prefix=$(mktemp -d /tmp/posterior_install_XXXXXX)
trap 'rm -rf "$prefix"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

cmake --install "$build" --prefix "$prefix" >/dev/null
pc=$(find "$prefix" -name posterior.pc)
[ -n "$pc" ] || fail "no posterior.pc installed under $prefix"
export PKG_CONFIG_PATH=$(dirname "$pc")
libdir=$(pkg-config --variable=libdir posterior)
for f in "$libdir/libposterior.a" "$libdir/libposterior.so" "$prefix/bin/posterior" \
         "$prefix/include/posterior/base.h" "$prefix/include/posterior/dpg.h"; do
  [ -e "$f" ] || fail "$f was not installed"
done
version=$(sed -n 's/^project(posterior VERSION \([0-9.]*\).*/\1/p' CMakeLists.txt)
[ "$(pkg-config --modversion posterior)" = "$version" ] || fail "posterior.pc version is not $version"
soname=$(readelf -d "$libdir/libposterior.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = "libposterior.so.${version%%.*}" ] || fail "soname '$soname', expected libposterior.so.${version%%.*}"
"$prefix/bin/posterior" --help >/dev/null || fail "the installed CLI does not run"

export OMP_NUM_THREADS=1
n=0
for src in examples/*.c; do
  name=$(basename "$src" .c)
  cc -Wall -Wextra -Werror -fsyntax-only $(pkg-config --cflags posterior) "$src" || fail "$src has warnings"
  # the command docs/building.md gives, word for word
  cc $(pkg-config --cflags --libs posterior) "$src" -o "$prefix/$name" || fail "$src does not build"
  out=$(LD_LIBRARY_PATH="$libdir" "$prefix/$name") || fail "$name exited non-zero:
$out"
  echo "$out" | sed "s/^/$name: /"
  n=$((n + 1))
done
[ "$n" -ge 2 ] || fail "expected at least two examples, found $n"

# the static library alone: the example's own objects, then libposterior.a, then its deps
cc $(pkg-config --cflags posterior) examples/estimate_log_z.c "$libdir/libposterior.a" \
   $(pkg-config --static --libs-only-l posterior | sed 's/-lposterior//') $(pkg-config --static --libs-only-other posterior) \
   -o "$prefix/static_example" || fail "the static link fails"
dyn=$(readelf -d "$prefix/static_example") # not `readelf | grep -q`: under pipefail, SIGPIPE could hide a match
grep -q 'libposterior' <<<"$dyn" && fail "the static example needs libposterior.so"
"$prefix/static_example" >/dev/null || fail "the statically linked example exited non-zero"

# the examples' output is what they promise
out=$(LD_LIBRARY_PATH="$libdir" "$prefix/estimate_log_z")
echo "$out" | grep -Eq '^log Z, importance sampling .*: -?[0-9.]+ \+- [0-9.]+$' || fail "estimate_log_z output: $out"
out=$(LD_LIBRARY_PATH="$libdir" "$prefix/tune_dpg")
echo "$out" | grep -q '^step 20: E_pi\[b\]' || fail "tune_dpg did not print 20 steps: $out"
echo "OK: installed, $n examples built with pkg-config and run"
