#!/usr/bin/env bash
# external:CMD scorers: the shipped example, batching with answers out of
# order, contexts, restart after one crash, and clear errors for a process that
# crashes twice, answers garbage, answers an unknown id, reports an error,
# times out, or cannot start.
set -u
BIN=${POSTERIOR_BIN:-build/posterior}
PY=/usr/bin/python3
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
pass=0
ok() { pass=$((pass + 1)); }
bad() { echo "FAIL: $*" >&2; fails=$((fails + 1)); }
MIS="$PY tests/fixtures/evidence/misbehaving_scorer.py"

# 200 documents as JSON lines, some with contexts and non-ASCII / invalid text
$PY - "$T/docs.jsonl" <<'PYEOF'
import json, random, sys
random.seed(4)
words = "the a prior evidence posterior model text score alignment déjà vu".split()
with open(sys.argv[1], "w") as f:
    for i in range(200):
        text = " ".join(random.choice(words) for _ in range(random.randint(0, 30)))
        doc = {"text": text}
        if i % 3 == 0:
            doc["context"] = "context %d" % i
        f.write(json.dumps(doc) + "\n")
PYEOF

# 1. the shipped example: score = words / 100, same order as the input
"$BIN" score --jsonl --scorer "external:$PY examples/scorers/length_scorer.py" "$T/docs.jsonl" >"$T/out1" 2>"$T/err1" || bad "example scorer failed: $(cat "$T/err1")"
$PY - "$T/docs.jsonl" "$T/out1" <<'PYEOF' && ok || bad "example scorer: wrong scores"
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
outs = [json.loads(l) for l in open(sys.argv[2])]
assert len(docs) == len(outs) == 200, (len(docs), len(outs))
for i, (d, o) in enumerate(zip(docs, outs)):
    assert o["line"] == i + 1, o
    assert abs(o["score"] - len(d["text"].split()) / 100) < 1e-12, (d, o)
PYEOF

# 2. features and contexts: phi = [chars/100, words/100, has_context]
"$BIN" score --jsonl --batch 7 --scorer "external:$PY examples/scorers/length_scorer.py --features" "$T/docs.jsonl" >"$T/out2" 2>"$T/err2" || bad "features scorer failed: $(cat "$T/err2")"
$PY - "$T/docs.jsonl" "$T/out2" <<'PYEOF' && ok || bad "example scorer --features: wrong features"
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
outs = [json.loads(l) for l in open(sys.argv[2])]
assert len(outs) == 200
for d, o in zip(docs, outs):
    f = o["features"]
    assert len(f) == 3, o
    assert abs(f[0] - len(d["text"]) / 100) < 1e-12, (d, o)
    assert abs(f[1] - len(d["text"].split()) / 100) < 1e-12, (d, o)
    assert f[2] == (1.0 if "context" in d else 0.0), (d, o)
    assert abs(o["score"] - sum(f)) < 1e-9
PYEOF

# 3. answers in reverse order within each burst are matched by id
"$BIN" score --jsonl --batch 64 --scorer "external:$MIS --shuffle" "$T/docs.jsonl" >"$T/out3" 2>"$T/err3" || bad "shuffled scorer failed: $(cat "$T/err3")"
$PY - "$T/docs.jsonl" "$T/out3" <<'PYEOF' && ok || bad "shuffled answers not matched by id"
import json, sys
docs = [json.loads(l) for l in open(sys.argv[1])]
outs = [json.loads(l) for l in open(sys.argv[2])]
assert len(outs) == 200
for d, o in zip(docs, outs):
    assert o["score"] == len(d["text"]), (d, o)
PYEOF

# 4. a crash is survived once per batch: the process restarts and the batch completes
printf '{"text": "one"}\n{"text": "CRASH here"}\n{"text": "three!"}\n' >"$T/crash.jsonl"
"$BIN" score --jsonl --scorer "external:$MIS --crash-once $T/marker" "$T/crash.jsonl" >"$T/out4" 2>"$T/err4" || bad "crash-once: should have restarted: $(cat "$T/err4")"
[ -f "$T/marker" ] || bad "crash-once: the scorer never crashed"
$PY -c 'import json,sys; s=[json.loads(l)["score"] for l in open(sys.argv[1])]; assert s==[3,10,6], s' "$T/out4" && ok || bad "crash-once: wrong scores"

# answers that arrive in pieces
head -20 "$T/docs.jsonl" >"$T/docs20.jsonl"
"$BIN" score --jsonl --scorer "external:$MIS --drip" "$T/docs20.jsonl" >"$T/outd" 2>"$T/errd" || bad "drip: $(cat "$T/errd")"
$PY -c 'import json,sys; d=[json.loads(l)["text"] for l in open(sys.argv[1])]; o=[json.loads(l)["score"] for l in open(sys.argv[2])]; assert o==[len(t) for t in d], o' "$T/docs20.jsonl" "$T/outd" && ok || bad "drip: wrong scores"

# one batch of 3000 texts (1.5 MB): requests are written while answers are read, no deadlock
$PY -c '
import json, sys
with open(sys.argv[1], "w") as f:
    for i in range(3000):
        f.write(json.dumps({"text": ("x" * (i % 500)) + " y" * 10}) + "\n")' "$T/many.jsonl"
"$BIN" score --jsonl --batch 5000 --no-findings --scorer "external:$PY examples/scorers/length_scorer.py" "$T/many.jsonl" >"$T/outm" 2>"$T/errm" || bad "3000 texts in one batch: $(cat "$T/errm")"
$PY -c 'import json,sys; o=[json.loads(l)["score"] for l in open(sys.argv[1])]; assert len(o)==3000 and all(abs(s-(11 if i%500 else 10)/100)<1e-12 for i,s in enumerate(o)), o[:5]' "$T/outm" && ok || bad "3000 texts: wrong scores"

# 5-9. errors: non-zero exit, message naming the command and the problem
expect_error() { # name, pattern, command...
    local name=$1 pattern=$2
    shift 2
    if "$@" >"$T/out" 2>"$T/err"; then bad "$name: exit status 0"; return; fi
    if grep -q -- "$pattern" "$T/err"; then ok; else bad "$name: stderr lacks '$pattern': $(cat "$T/err")"; fi
}
expect_error crash-twice "twice in one batch" "$BIN" score --jsonl --scorer "external:$MIS --crash-always" "$T/crash.jsonl"
printf '{"text": "fine"}\n{"text": "GARBAGE please"}\n' >"$T/garbage.jsonl"
expect_error garbage "answered garbage (not a JSON object): 'this is not json'" "$BIN" score --jsonl --scorer "external:$MIS --garbage" "$T/garbage.jsonl"
printf '{"text": "WRONGID"}\n' >"$T/wrong.jsonl"
expect_error wrong-id "was not asked for" "$BIN" score --jsonl --scorer "external:$MIS --wrong-id" "$T/wrong.jsonl"
printf '{"text": "HUGEID"}\n' >"$T/huge.jsonl"
expect_error huge-id 'no "id" that is an integer below 2^53' "$BIN" score --jsonl --scorer "external:$MIS --huge-id" "$T/huge.jsonl"
printf '{"text": "ERROR"}\n' >"$T/error.jsonl"
expect_error error-field "model exploded on purpose" "$BIN" score --jsonl --scorer "external:$MIS --error" "$T/error.jsonl"
printf '{"text": "SLOW"}\n' >"$T/slow.jsonl"
start=$(date +%s.%N)
expect_error timeout "timed out after 0.5 s" "$BIN" score --jsonl --timeout 0.5 --scorer "external:$MIS --sleep 20" "$T/slow.jsonl"
elapsed=$($PY -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$start" "$(date +%s.%N)")
$PY -c "import sys; assert float(sys.argv[1]) < 5, sys.argv[1]" "$elapsed" && ok || bad "timeout took ${elapsed}s"
expect_error timeout-of-a-part "timed out after 0.5 s" "$BIN" score --jsonl --timeout 0.5 --scorer "above:1:external:$MIS --sleep 20" "$T/slow.jsonl"
expect_error no-such-command "exited with status 127" "$BIN" score --scorer "external:/nonexistent/scorer" "$T/crash.jsonl"
expect_error empty-command "expected external:CMD" "$BIN" score --scorer "external:" "$T/crash.jsonl"

# 10. bytes that are not UTF-8 reach the scorer as U+FFFD, and NUL bytes survive
printf 'ab\xff\xfecd\000ef' >"$T/binary.bin"
"$BIN" score --scorer "external:$MIS" "$T/binary.bin" >"$T/out10" 2>"$T/err10" || bad "binary input: $(cat "$T/err10")"
$PY -c 'import json,sys; o=json.loads(open(sys.argv[1]).read()); assert o["score"]==9, o' "$T/out10" && ok || bad "binary input: wrong score"

# 11. no process outlives a failure: the scorer runs under a forking /bin/sh
# ("; true"), writes its pid, lingers after EOF, and is stopped with its whole process group on a
# timeout (also when it ignores SIGTERM), when it shuts its output down but
# keeps running, and when it never answers the start-up probe (which honours
# --timeout). `timeout 60` turns a hang into a failure.
alive() { # pid: still our scorer (not a reused pid: tests run in parallel), running and not a zombie
    tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -q misbehaving_scorer &&
        [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]
}
no_strays() { # name, pid file
    local p n=0
    [ -s "$2" ] || { bad "$1: the scorer never wrote its pid"; return; }
    for p in $(cat "$2"); do
        n=$((n + 1))
        for _ in $(seq 50); do alive "$p" || break; sleep 0.1; done
        if alive "$p"; then bad "$1: scorer process $p is still running: $(tr '\0' ' ' </proc/$p/cmdline 2>/dev/null)"; kill -9 "$p" 2>/dev/null; return; fi
    done
    ok
}
for i in 1 2 3; do echo "SLOW text $i" >"$T/slow$i.txt"; done
expect_error stray-timeout "timed out after 0.5 s" timeout 60 "$BIN" score --batch 1 --timeout 0.5 \
    --scorer "external:$MIS --sleep 30 --linger --pid-file $T/pids1; true" "$T/slow1.txt" "$T/slow2.txt" "$T/slow3.txt"
no_strays stray-timeout "$T/pids1"
expect_error stray-ignore-term "timed out after 0.5 s" timeout 60 "$BIN" score --timeout 0.5 \
    --scorer "external:$MIS --sleep 30 --linger --ignore-term --pid-file $T/pids2; true" "$T/slow1.txt"
no_strays stray-ignore-term "$T/pids2"
echo "CLOSE now" >"$T/close.txt"
expect_error stray-close-output "closed its output without exiting twice" timeout 60 "$BIN" score --timeout 30 \
    --scorer "external:$MIS --close-output --pid-file $T/pids3; true" "$T/close.txt"
no_strays stray-close-output "$T/pids3"
expect_error probe-timeout "probing with the empty text: .*timed out after 1 s" timeout 60 "$BIN" score --timeout 1 \
    --scorer "external:$MIS --mute --pid-file $T/pids4; true" "$T/close.txt"
no_strays probe-timeout "$T/pids4"

echo "$pass passed, $fails failed"
[ "$fails" -eq 0 ]
