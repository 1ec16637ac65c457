#!/usr/bin/env bash
# Layers: base < prior < text < evidence < target < train < eval (< label). Every pst_ symbol
# an object file of a layer uses (nm: undefined) is defined by that layer or one
# below it, so a lower layer never calls into a higher one; the CLI may use all.
set -euo pipefail
. "$(dirname "$0")/build_config.sh"
fail() { echo "FAIL: $*" >&2; exit 1; }
layers=(base prior text evidence target train eval)
# label (the labelling page) exists only in builds with libmicrohttpd and SQLite
[ -d "$build/CMakeFiles/pst_label_obj.dir" ] && layers+=(label)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
: > "$T/visible"
bad=0
for layer in "${layers[@]}"; do
  dir="$build/CMakeFiles/pst_${layer}_obj.dir"
  objs=$(find "$dir" -name '*.c.o' 2>/dev/null)
  [ -n "$objs" ] || fail "no objects of layer $layer under $dir"
  nm --defined-only -g $objs | awk 'NF == 3 {print $3}' >> "$T/visible"
  sort -u "$T/visible" -o "$T/visible"
  for o in $objs; do
    nm -u "$o" | awk '{print $2}' | grep '^pst_' | sort -u > "$T/used" || true
    up=$(comm -23 "$T/used" "$T/visible")
    if [ -n "$up" ]; then
      echo "FAIL: ${o#$dir/} (layer $layer) uses symbols of a higher layer: $(echo $up)" >&2
      bad=1
    fi
  done
done
[ "$bad" = 0 ] || exit 1
echo "OK: ${#layers[@]} layers, no upward reference ($(grep -c "^pst_" "$T/visible") pst_ symbols)"
