#!/usr/bin/env bash
# PEP8 benchmark: `posterior pep8` vs Debian's pycodestyle 2.10 over the whole
# Python 3.11 standard library (/usr/lib/python3.11, every *.py pycodestyle's
# directory walk finds), default options and --select E,W. posterior checks
# files on OMP_NUM_THREADS threads (default: all cores); pycodestyle is one
# process. Reported: wall seconds and CPU seconds (user + sys, all threads) of
# the best of 3 posterior runs and of one pycodestyle run, and both speed-ups
# (CPU time is the fairer one on a shared machine). The two outputs are compared
# too (they must be identical).
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
threads=${OMP_NUM_THREADS:-$(nproc)}

timed() { # out-file, command... ; prints "wall cpu"
  local out=$1
  shift
  /usr/bin/time -f "%e %U %S" -o "$tmp/time" "$@" >"$out" || true
  tail -1 "$tmp/time" | awk '{printf "%.3f %.3f\n", $1, $2 + $3}'
}

echo "PEP8 checking of $stdlib ($nfiles files, $mbytes MB); posterior on $threads thread(s); load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| options | pycodestyle wall s | posterior wall s | speed-up (wall) | pycodestyle CPU s | posterior CPU s | speed-up (CPU) | outputs |"
echo "|---|---|---|---|---|---|---|---|"
for mode in default select; do
  args=()
  [ "$mode" = select ] && args=(--select E,W)
  read -r ref_wall ref_cpu < <(timed "$tmp/ref.txt" /usr/bin/pycodestyle "${args[@]}" "$stdlib")
  best_wall="" best_cpu=""
  for _ in 1 2 3; do
    read -r w c < <(OMP_NUM_THREADS=$threads timed "$tmp/mine.txt" "$bin" pep8 "${args[@]}" "$stdlib")
    best_wall=$($py -c "import sys; print(min(float(sys.argv[1]), float(sys.argv[2] or 'inf')))" "$w" "$best_wall")
    best_cpu=$($py -c "import sys; print(min(float(sys.argv[1]), float(sys.argv[2] or 'inf')))" "$c" "$best_cpu")
  done
  same=different
  cmp -s "$tmp/ref.txt" "$tmp/mine.txt" && same=identical
  ratio() { $py -c "import sys; b = float(sys.argv[2]); print('%.0fx' % (float(sys.argv[1]) / b) if b > 0 else 'inf')" "$1" "$2"; }
  label=$([ "$mode" = select ] && echo "--select E,W" || echo "default")
  echo "| $label | $ref_wall | $best_wall | $(ratio "$ref_wall" "$best_wall") | $ref_cpu | $best_cpu | $(ratio "$ref_cpu" "$best_cpu") | $same ($(wc -l <"$tmp/ref.txt") lines) |"
  if [ -d "$build/bench" ]; then
    echo "{\"bench\": \"pep8\", \"options\": \"$label\", \"files\": $nfiles, \"mbytes\": $mbytes, \"threads\": $threads, \"pycodestyle_wall_s\": $ref_wall, \"posterior_wall_s\": $best_wall, \"pycodestyle_cpu_s\": $ref_cpu, \"posterior_cpu_s\": $best_cpu, \"identical\": $([ $same = identical ] && echo true || echo false)}" >>"$build/bench/results.jsonl"
  fi
done
