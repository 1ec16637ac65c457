#!/bin/bash
# Prepare throughput: corpus bytes per second through documents -> segments ->
# GPT-2 tokens (-> scores) -> shards, best of 3 runs, for 1 thread and all.
#   bash bench/bench_prepare.sh [BUILD]        (default BUILD=build)
# Rows: corpus, segmenter, scorer, threads, MB, seconds, MB/s. Needs data/
# (scripts/bootstrap.sh). The tokenizer dominates the time; the "document"
# rows show what segmentation costs on top.
set -euo pipefail
BUILD=${1:-build}
BIN=$BUILD/posterior
[ -x "$BIN" ] || { echo "no $BIN: build first" >&2; exit 1; }
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
ALL=$(nproc)

run() { # corpus segments scorer threads
    local best="" line
    local scorer_args=()
    [ "$3" != "-" ] && scorer_args=(--scorer "$3")
    for _ in 1 2 3; do
        line=$("$BIN" prepare --corpus "$1" --segments "$2" "${scorer_args[@]}" --threads "$4" \
                   --out "$TMP/p" --quiet) || return 1
        best=$(/usr/bin/python3 -c '
import json, sys
d = json.loads(sys.argv[1]); b = sys.argv[2]
if b and float(b.split()[1]) <= d["seconds"]: print(b)
else: print("%.2f %.3f %.2f" % (d["bytes"] / 1e6, d["seconds"], d["bytes"] / 1e6 / d["seconds"]))
' "$line" "$best")
    done
    printf "%-14s %-9s %-9s %7s %8s %8s %8s\n" "$1" "$2" "$3" "$4" $best
}

printf "%-14s %-9s %-9s %7s %8s %8s %8s\n" corpus segments scorer threads MB seconds MB/s
for t in 1 "$ALL"; do
    run sotu sentence - "$t"
done
run sotu document - 1
run nlp-corpus sentence - "$ALL"
if "$BIN" prepare --corpus nlp-corpus --scorer toxicity --max-docs 1 --out "$TMP/q" --quiet >/dev/null 2>&1; then
    run nlp-corpus sentence toxicity "$ALL"
fi
