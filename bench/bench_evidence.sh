#!/usr/bin/env bash
# Evidence benchmark: PII and toxicity scoring throughput (MB/s, one thread)
# over the whole SpamAssassin e-mail corpus (data/spam-assassin/data/*/*.txt:
# 6046 raw RFC 822 messages, headers included, 32.5 MB), each message one
# document, `posterior score --no-findings` and `posterior pii` (findings
# printed to /dev/null). Time = best of 3 wall times minus the wall time of
# the same command on one empty file (start-up, lexicon loading, pattern JIT).
#   bash bench/bench_evidence.sh [BUILD]          (default BUILD=build)
# Prints a Markdown table and appends JSON lines to BUILD/bench/results.jsonl
# when that folder exists.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
cd "$root"
bin=$build/posterior
py=/usr/bin/python3
[ -x "$bin" ] || { echo "bench_evidence: no $bin (build first)" >&2; exit 1; }
ls data/spam-assassin/data/*/*.txt >/dev/null 2>&1 || { echo "bench_evidence: data/ missing (scripts/bootstrap.sh)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ls data/spam-assassin/data/*/*.txt >"$tmp/files"
: >"$tmp/empty"
bytes=$(cat $(cat "$tmp/files") | wc -c)
ndocs=$(wc -l <"$tmp/files")

now() { date +%s.%N; }
best_wall() { # files-list-file, command... : best of 3 wall seconds
  local list=$1 best=""
  shift
  for _ in 1 2 3; do
    local t0 t1
    t0=$(now)
    xargs -a "$list" "$@" >/dev/null || [ $? -eq 123 ] # pii exits 1 when it finds something
    t1=$(now)
    best=$($py -c "import sys; a=float(sys.argv[1]) - float(sys.argv[2]); b=sys.argv[3]; print(min(a, float(b)) if b else a)" "$t1" "$t0" "$best")
  done
  echo "$best"
}
echo "$tmp/empty" >"$tmp/emptylist"

echo "| scorer | documents | MB | seconds | MB/s |"
echo "|---|---|---|---|---|"
for name in "score pii" "score toxicity" "pii"; do
  case $name in
    "score pii") cmd=("$bin" score --no-findings --scorer pii) ;;
    "score toxicity") cmd=("$bin" score --no-findings --scorer toxicity) ;;
    "pii") cmd=("$bin" pii) ;;
  esac
  start=$(best_wall "$tmp/emptylist" "${cmd[@]}")
  total=$(best_wall "$tmp/files" "${cmd[@]}")
  $py - "$name" "$ndocs" "$bytes" "$total" "$start" "$build" <<'PY'
import json, os, sys
name, ndocs, nbytes, total, start, build = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6]
secs = max(total - start, 1e-9)
mb = nbytes / 1e6
print("| posterior %s | %d | %.1f | %.2f | %.1f |" % (name, ndocs, mb, secs, mb / secs))
res = os.path.join(build, "bench", "results.jsonl")
if os.path.isdir(os.path.dirname(res)):
    with open(res, "a") as f:
        f.write(json.dumps({"bench": "evidence", "command": "posterior " + name, "documents": ndocs,
                            "bytes": nbytes, "seconds": secs, "mb_per_s": mb / secs}) + "\n")
PY
done
echo
echo "(one thread; xargs may split the file list into several processes; start-up subtracted once per run)"
