#!/usr/bin/env bash
# PEP8 benchmark: `posterior pep8` vs Debian's pycodestyle 2.10 over the whole
# Python 3.11 standard library (/usr/lib/python3.11, every *.py pycodestyle's
# directory walk finds), one process each, default options and --select E,W.
# posterior: best of 3 wall times; pycodestyle: one run (it takes seconds to
# minutes). Both outputs are also compared (they must be identical).
#   bash bench/bench_pep8.sh [BUILD]          (default BUILD=build)
# Prints a Markdown table; appends JSON lines to BUILD/bench/results.jsonl when
# that folder exists.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
bin=$build/posterior
py=/usr/bin/python3
stdlib=${PEP8_BENCH_ROOT:-/usr/lib/python3.11}
[ -x "$bin" ] || { echo "bench_pep8: no $bin (build first)" >&2; exit 1; }
[ -x /usr/bin/pycodestyle ] || { echo "bench_pep8: /usr/bin/pycodestyle missing (scripts/bootstrap.sh)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
nfiles=$(find "$stdlib" -name '*.py' -not -path '*/__pycache__/*' | wc -l)
mbytes=$(find "$stdlib" -name '*.py' -not -path '*/__pycache__/*' -print0 | xargs -0 cat | wc -c | awk '{printf "%.1f", $1/1e6}')
now() { date +%s.%N; }
elapsed() { $py -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }

echo "| options | files | MB | pycodestyle s | posterior s | speed-up | outputs |"
echo "|---|---|---|---|---|---|---|"
for mode in default select; do
  args=()
  [ "$mode" = select ] && args=(--select E,W)
  t0=$(now); /usr/bin/pycodestyle "${args[@]}" "$stdlib" >"$tmp/ref.txt" || true; t1=$(now)
  t_ref=$(elapsed "$t0" "$t1")
  best=""
  for _ in 1 2 3; do
    t0=$(now); "$bin" pep8 "${args[@]}" "$stdlib" >"$tmp/mine.txt" || true; t1=$(now)
    t=$(elapsed "$t0" "$t1")
    best=$($py -c "import sys; print(min(float(sys.argv[1]), float(sys.argv[2] or 'inf')))" "$t" "$best")
  done
  same=different
  cmp -s "$tmp/ref.txt" "$tmp/mine.txt" && same=identical
  speedup=$($py -c "import sys; print('%.0fx' % (float(sys.argv[1]) / float(sys.argv[2])))" "$t_ref" "$best")
  label=$([ "$mode" = select ] && echo "--select E,W" || echo "default")
  echo "| $label | $nfiles | $mbytes | $t_ref | $best | $speedup | $same ($(wc -l <"$tmp/ref.txt") lines) |"
  if [ -d "$build/bench" ]; then
    echo "{\"bench\": \"pep8\", \"options\": \"$label\", \"files\": $nfiles, \"mbytes\": $mbytes, \"pycodestyle_s\": $t_ref, \"posterior_s\": $best, \"identical\": $([ $same = identical ] && echo true || echo false)}" >>"$build/bench/results.jsonl"
  fi
done
