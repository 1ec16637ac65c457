#!/usr/bin/env bash
# posterior score / posterior pii on bad input: binary files, invalid UTF-8,
# NUL bytes, a 50 MB line, empty and missing files, bad flags; every output
# line must be valid JSON (checked by Python's json module) and errors must
# name the file or flag.
set -u
BIN=${POSTERIOR_BIN:-build/posterior}
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
json_lines() { # file, expected number of lines: every line parses as a JSON object
    $PY -c '
import json, sys
lines = open(sys.argv[1], "rb").read().decode("utf-8").splitlines()
assert len(lines) == int(sys.argv[2]), (len(lines), sys.argv[2])
for l in lines:
    assert isinstance(json.loads(l), dict)
' "$1" "$2"
}

# binary file with NULs and invalid UTF-8 around real PII
printf '\x00\x01\xff\xfe mail a@example.com \xc3\x28\x00 fuck \x80 call 415-555-2671\x00' >"$T/bin.dat"
head -c 100000 /dev/urandom >"$T/random.dat" 2>/dev/null || $PY -c 'import os,sys; open(sys.argv[1],"wb").write(os.urandom(100000))' "$T/random.dat"
: >"$T/empty.txt"
for spec in pii toxicity 'regex:\d+' 'contains:fuck' 'length:1:10' 'features:tests/fixtures/evidence/features.txt'; do
    if "$BIN" score --scorer "$spec" --segments line "$T/bin.dat" "$T/random.dat" "$T/empty.txt" >"$T/out" 2>"$T/err"; then
        json_lines "$T/out" 3 && ok || bad "$spec: output is not 3 JSON objects"
    else
        bad "$spec on binary input failed: $(cat "$T/err")"
    fi
done
$PY - "$T/bin.dat" <<'PYEOF' && ok || bad "pii on binary: wrong findings"
import json, subprocess, sys, os
out = subprocess.run([os.environ.get("POSTERIOR_BIN", "build/posterior"), "score", "--scorer", "pii", sys.argv[1]],
                     capture_output=True, check=True).stdout
r = json.loads(out)
assert [(f["type"], f["text"]) for f in r["findings"]] == [("EMAIL", "a@example.com"), ("PHONE", "415-555-2671")], r
raw = open(sys.argv[1], "rb").read()
assert raw[r["findings"][0]["start"]:r["findings"][0]["end"]] == b"a@example.com"
PYEOF
"$BIN" pii "$T/bin.dat" >"$T/out" 2>&1
[ $? -eq 1 ] && [ "$(wc -l <"$T/out")" -eq 2 ] && grep -q "bin.dat:10: EMAIL a@example.com" "$T/out" && ok || bad "pii text output: $(cat "$T/out")"
"$BIN" pii --json "$T/bin.dat" >"$T/out" && bad "pii --json: exit 0 despite findings" || json_lines "$T/out" 2 && ok || bad "pii --json output"
"$BIN" pii --redact "$T/bin.dat" >"$T/red" && cmp -s "$T/red" <(printf '\x00\x01\xff\xfe mail {{EMAIL}} \xc3\x28\x00 fuck \x80 call {{PHONE}}\x00') && ok || bad "pii --redact keeps bytes and replaces findings"
"$BIN" pii "$T/empty.txt" >"$T/out" && [ ! -s "$T/out" ] && ok || bad "pii on an empty file: exit 0, no output"
"$BIN" pii --types phone "$T/bin.dat" >"$T/out"; [ $? -eq 1 ] && [ "$(cat "$T/out")" = "$T/bin.dat:40: PHONE 415-555-2671" ] && ok || bad "pii --types phone: $(cat "$T/out")"
"$BIN" pii --types NAME "$T/bin.dat" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--types: pii: unknown type 'NAME'" "$T/err" && ok || bad "pii --types NAME: rc $rc, $(cat "$T/err")"

# a 50 MB line
$PY -c '
import sys
chunk = b"word 12.34.56 a@b " * 10
sys.stdout.buffer.write(chunk * (50 * 2**20 // len(chunk)) + b"x@example.com fuck\n")' >"$T/big.txt"
for spec in pii toxicity; do
    "$BIN" score --no-findings --scorer "$spec" --segments sentence "$T/big.txt" >"$T/out" 2>"$T/err" && json_lines "$T/out" 1 && ok || bad "$spec on a 50 MB line: $(cat "$T/err")"
done
$PY -c 'import json,sys; r=json.loads(open(sys.argv[1]).read()); assert r["score"] > 0.89, r["score"]' "$T/out" && ok || bad "toxicity of the 50 MB line"

# stdin, --jsonl, and errors that name the file / flag
echo 'mail a@example.com' | "$BIN" score --scorer pii >"$T/out" && grep -q '"file": "<stdin>"' "$T/out" && ok || bad "stdin input"
printf '{"text": "ok"}\nnot json\n' >"$T/bad.jsonl"
"$BIN" score --jsonl --scorer pii "$T/bad.jsonl" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "bad.jsonl:2: expected a JSON object" "$T/err" && ok || bad "--jsonl garbage: rc $rc, $(cat "$T/err")"
"$BIN" score --scorer pii /nonexistent/file >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "/nonexistent/file: cannot open" "$T/err" && ok || bad "missing file: rc $rc, $(cat "$T/err")"
"$BIN" pii /nonexistent/file >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "/nonexistent/file: cannot open" "$T/err" && ok || bad "pii missing file: rc $rc"
"$BIN" score --scorer pii --segments paragraph "$T/empty.txt" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--segments" "$T/err" && ok || bad "bad --segments: rc $rc, $(cat "$T/err")"
"$BIN" score --scorer 'nonsense' "$T/empty.txt" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q "scorer 'nonsense': unknown spec" "$T/err" && ok || bad "bad --scorer: rc $rc, $(cat "$T/err")"
"$BIN" score "$T/empty.txt" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--scorer is required" "$T/err" && ok || bad "missing --scorer: rc $rc"
"$BIN" score --help >"$T/out" && grep -q -- "--segments" "$T/out" && ok || bad "score --help"

# --threads and --batch change nothing in the output (order included)
ls data/spam-assassin/data/easy-ham-1/*.txt | head -150 >"$T/list"
"$BIN" score --scorer toxicity --segments sentence $(cat "$T/list") >"$T/t1" 2>"$T/err" || bad "toxicity over 150 files: $(cat "$T/err")"
OMP_WAIT_POLICY=passive "$BIN" score --scorer toxicity --segments sentence --threads 3 --batch 37 $(cat "$T/list") >"$T/t3" 2>"$T/err" || bad "--threads 3: $(cat "$T/err")"
[ "$(wc -l <"$T/t1")" -eq 150 ] && cmp -s "$T/t1" "$T/t3" && ok || bad "--threads 3 --batch 37 changed the output"
"$BIN" score --scorer pii --threads 0 "$T/empty.txt" >"$T/out" 2>"$T/err"; rc=$?
[ $rc -eq 2 ] && grep -q -- "--threads: must be at least 1" "$T/err" && ok || bad "--threads 0: rc $rc"

# pointwise output: log_b is 0 or null (-inf)
printf 'good\n' >"$T/good.txt"
"$BIN" score --scorer 'contains:bad' "$T/good.txt" >"$T/out" && $PY -c 'import json,sys; r=json.loads(open(sys.argv[1]).read()); assert r["score"]==0 and r["log_b"] is None, r' "$T/out" && ok || bad "pointwise log_b"

# the pep8 scorer against pycodestyle 2.10: violations per character, per-line
# rates (violations on the line / characters of the line), codes at the right
# rows and columns
for f in /usr/lib/python3.11/textwrap.py /usr/lib/python3.11/colorsys.py /usr/lib/python3.11/json/decoder.py "$T/bad.py"; do
    [ "$f" = "$T/bad.py" ] && printf 'import os,sys\ndef f( x ):\n    return x+1 # c\nclass A: pass\n\tx = "\xc3\xa9"  \n' >"$f"
    "$BIN" score --scorer pep8 --segments line "$f" >"$T/pep8.json" 2>"$T/err" || { bad "pep8 scorer on $f: $(cat "$T/err")"; continue; }
    /usr/bin/pycodestyle "$f" >"$T/pycodestyle.txt"
    $PY - "$f" "$T/pep8.json" "$T/pycodestyle.txt" <<'PYEOF' && ok || bad "pep8 scorer disagrees with pycodestyle on $f"
import json, sys
from collections import Counter
path, res, ref = sys.argv[1], json.load(open(sys.argv[2])), open(sys.argv[3]).read().splitlines()
raw = open(path, "rb").read()
text = raw.decode("utf-8")
want = []
for l in ref:
    loc, code = l[len(path) + 1:].split(": ", 1)[0], l[len(path) + 1:].split(": ", 1)[1].split()[0]
    row, col = map(int, loc.split(":"))
    want.append((row, col, code))
got = []
for f in res["findings"]:
    row = raw.count(b"\n", 0, f["start"]) + 1
    line_start = raw.rfind(b"\n", 0, f["start"]) + 1
    col = len(raw[line_start:f["start"]].decode("utf-8")) + 1
    got.append((row, col, f["type"]))
assert sorted(got) == sorted(want), (sorted(set(got) ^ set(want)))
assert abs(res["score"] - len(want) / len(text)) < 1e-12
lines = text.splitlines(keepends=True)
per_row = Counter(r for r, _, _ in want)
assert len(res["segments"]) == len(lines)
for i, (seg, line) in enumerate(zip(res["segments"], lines)):
    assert abs(seg["score"] - per_row[i + 1] / len(line)) < 1e-12, (i, seg, line)
PYEOF
done

echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
