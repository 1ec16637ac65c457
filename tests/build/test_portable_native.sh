#!/usr/bin/env bash
# The portable (default) and the -march=native builds compute the same numbers up to
# rounding (native builds contract a·b + c into FMAs and vectorise sums in another
# order): both CLIs train the same tiny GPT-2 for 8 steps and score held-out
# sequences with the model of one of them.
#   training loss, each step:      |Δ| ≤ 1e-4 · |loss|
#   grad_norm, each step:          |Δ| ≤ 1e-3 · |grad_norm|
#   log-prob of each sequence:     |Δ| ≤ 1e-4 · max(1, |logprob|)
# POSTERIOR_NATIVE_BIN names the other build's binary (`make test-native` builds it);
# without it the test is skipped.
set -euo pipefail
. "$(dirname "$0")/build_config.sh"
other=${POSTERIOR_NATIVE_BIN:-}
[ -n "$other" ] || skip "POSTERIOR_NATIVE_BIN is not set (make test-native)"
[ -x "$other" ] || { echo "FAIL: POSTERIOR_NATIVE_BIN=$other is not an executable" >&2; exit 1; }
PY=/usr/bin/python3
T=$(mktemp -d /tmp/pst_portable_native.XXXXXX)
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1

$PY -c '
import random
random.seed(0)
out = []
for i in range(3000):
    a = random.randrange(10)
    out += [a, a + 10, a + 20, (a * 7) % 50]
print(" ".join(map(str, out)))' > "$T/ids.txt"
args=(--data "$T/ids.txt" --n-layer 2 --n-head 2 --n-embd 32 --n-positions 64 --steps 8 --batch 4
      --seq 32 --lr 3e-3 --warmup 2 --quiet --seed 5)
"$POSTERIOR_BIN" train "${args[@]}" --out "$T/portable"
"$other" train "${args[@]}" --out "$T/native"
$PY -c '
import random
random.seed(1)
for i in range(8):
    a = [random.randrange(10) for _ in range(6)]
    print(" ".join(str(t) for x in a for t in (x, x + 10, x + 20, (x * 7) % 50)))' > "$T/seqs.txt"
"$POSTERIOR_BIN" logprob --model "$T/portable/model" --tokens < "$T/seqs.txt" > "$T/lp_portable.jsonl"
"$other" logprob --model "$T/portable/model" --tokens < "$T/seqs.txt" > "$T/lp_native.jsonl"

$PY - "$T" <<'PY'
import json, sys
t = sys.argv[1]
rows = lambda p: [json.loads(l) for l in open(p) if l.strip()]
worst = {}
def close(what, a, b, rel, floor=0.0):
    d = abs(a - b) / max(abs(a), floor)
    worst[what] = max(worst.get(what, 0.0), d)
    assert d <= rel, "%s differs: portable %r, native %r (relative %.2e > %.0e)" % (what, a, b, d, rel)
p, n = rows(t + "/portable/metrics.jsonl"), rows(t + "/native/metrics.jsonl")
assert len(p) == len(n) == 8, (len(p), len(n))
for x, y in zip(p, n):
    assert x["step"] == y["step"]
    close("loss", x["loss"], y["loss"], 1e-4)
    close("grad_norm", x["grad_norm"], y["grad_norm"], 1e-3)
p, n = rows(t + "/lp_portable.jsonl"), rows(t + "/lp_native.jsonl")
assert len(p) == len(n) == 8, (len(p), len(n))
for x, y in zip(p, n):
    close("logprob", x["logprob"], y["logprob"], 1e-4, 1.0)
print("OK: portable and native agree; largest relative differences: " +
      ", ".join("%s %.1e" % kv for kv in sorted(worst.items())))
PY
