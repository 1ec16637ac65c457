#!/usr/bin/env bash
# posterior train / sample / logprob end to end on a tiny model:
#  - a run stopped at a step and resumed (after a stray metrics line, as a crash leaves)
#    reproduces the uninterrupted run's metrics (step, loss, lr, grad_norm) exactly and
#    ends with the same model and training state bytes; also with 2 threads and on shards
#  - the loss goes down; the run directory holds what the README says
#  - samples' logprob_model equals `posterior logprob` of the same tokens; at T = 1 the
#    proposal equals the model; truncation makes proposal >= model on average
#  - bad input gives a clear message and exit 1 (2 for usage)
set -euo pipefail
BIN=${POSTERIOR_BIN:-build/posterior}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/pst_prior_cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/expect.sh" # fail, expect_fail
export OMP_NUM_THREADS=1 # fast on a shared machine; one check below uses 2 threads

# A small "language": groups a, a+10, a+20, (7a mod 50) with a random.
$PY -c '
import random
random.seed(0)
out = []
for i in range(5000):
    a = random.randrange(10)
    out += [a, a + 10, a + 20, (a * 7) % 50]
print(" ".join(map(str, out)))' > "$T/ids.txt"
cut -d' ' -f1-2000 "$T/ids.txt" > "$T/val.txt"

common=(--data "$T/ids.txt" --n-layer 2 --n-head 2 --n-embd 32 --n-positions 64 --steps 24
        --batch 4 --seq 32 --grad-accum 2 --lr 3e-3 --warmup 4 --save-every 8 --quiet --seed 5
        --val-data "$T/val.txt" --val-every 6 --val-batches 2)
"$BIN" train "${common[@]}" --out "$T/full"
"$BIN" train "${common[@]}" --out "$T/part" --stop-at 13
[ "$(wc -l < "$T/part/metrics.jsonl")" -eq 13 ] || fail "stopped run should have 13 metrics lines"
echo '{"step": 20, "loss": 0.5}' >> "$T/part/metrics.jsonl"
"$BIN" train "${common[@]}" --out "$T/part" --resume

compare_runs() { # dir_a dir_b steps
    $PY - "$1" "$2" "$3" <<'EOF'
import json, sys
a, b, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
def rows(d):
    return [json.loads(l) for l in open(d + "/metrics.jsonl")]
ra, rb = rows(a), rows(b)
assert [r["step"] for r in ra] == list(range(1, steps + 1)), [r["step"] for r in ra]
assert [r["step"] for r in rb] == list(range(1, steps + 1)), [r["step"] for r in rb]
for x, y in zip(ra, rb):
    for k in ("step", "loss", "lr", "grad_norm", "val_loss"):
        assert x.get(k) == y.get(k), (k, x, y)
EOF
}
compare_runs "$T/full" "$T/part" 24 || fail "resumed run differs from the uninterrupted one"
cmp -s "$T/full/model/model.safetensors" "$T/part/model/model.safetensors" || fail "final models differ"
cmp -s "$T/full/checkpoints/latest/training_state.bin" "$T/part/checkpoints/latest/training_state.bin" || fail "final training states differ"

$PY - "$T/full" <<'EOF' || fail "run directory contents / loss decrease"
import json, sys, os
d = sys.argv[1]
rows = [json.loads(l) for l in open(d + "/metrics.jsonl")]
first, last = rows[0]["loss"], rows[-1]["loss"]
assert abs(first - __import__("math").log(50)) < 0.3, first   # uniform-ish at init
assert last < first - 0.8, (first, last)
for r in rows:
    assert set(r) >= {"step", "loss", "lr", "grad_norm", "tokens_per_s"}, r
assert abs(rows[1]["lr"] - 3e-3 * 2 / 4) < 1e-9                  # warmup: lr·(step+1)/warmup
val = [(r["step"], r["val_loss"]) for r in rows if "val_loss" in r]
assert [s for s, _ in val] == [6, 12, 18, 24], val
assert val[-1][1] < val[0][1] - 0.3, val                          # held-out loss improves too
cfg = json.load(open(d + "/train_config.json"))
for k in ("steps", "batch", "seq", "grad_accum", "lr", "warmup", "weight_decay", "clip", "seed",
          "model", "data", "data_path"):
    assert k in cfg, k
assert cfg["model"]["vocab_size"] == 50 and cfg["seed"] == 5
mc = json.load(open(d + "/model/config.json"))
assert mc["n_layer"] == 2 and mc["model_type"] == "gpt2"
assert os.path.getsize(d + "/checkpoints/latest/training_state.bin") > 2 * 4 * cfg["model"]["num_params"]
EOF

# 2 threads: the same exactness (short)
short=(--data "$T/ids.txt" --n-layer 1 --n-head 2 --n-embd 32 --n-positions 64 --steps 8
       --batch 4 --seq 32 --lr 3e-3 --warmup 2 --quiet)
OMP_NUM_THREADS=2 "$BIN" train "${short[@]}" --out "$T/t2full"
OMP_NUM_THREADS=2 "$BIN" train "${short[@]}" --out "$T/t2part" --stop-at 5
OMP_NUM_THREADS=2 "$BIN" train "${short[@]}" --out "$T/t2part" --resume
compare_runs "$T/t2full" "$T/t2part" 8 || fail "2 threads: resumed run differs"

# shards (posterior prepare) with shuffled documents: resume restores the loader position
if "$BIN" prepare --corpus sotu --max-docs 4 --segments document --out "$T/sotu" --quiet \
       --val-fraction 0 > /dev/null 2>&1; then
    sh=(--data "$T/sotu.train.bin" --tokenizer gpt2 --n-layer 1 --n-head 2 --n-embd 16
        --n-positions 64 --steps 10 --batch 2 --seq 48 --lr 3e-3 --warmup 2 --quiet)
    "$BIN" train "${sh[@]}" --out "$T/shfull"
    "$BIN" train "${sh[@]}" --out "$T/shpart" --stop-at 4
    "$BIN" train "${sh[@]}" --out "$T/shpart" --resume
    compare_runs "$T/shfull" "$T/shpart" 10 || fail "shards: resumed run differs"
    [ -f "$T/shfull/model/vocab.json" ] && [ -f "$T/shfull/model/merges.txt" ] || fail "tokenizer not saved with the model"
    out=$("$BIN" sample --model "$T/shfull/model" --prompt "The nation" --n 2 --max-new-tokens 5 --seed 1)
    echo "$out" | $PY -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
assert len(rows) == 2 and all("text" in r and len(r["tokens"]) <= 5 for r in rows), rows' \
        || fail "sample with a tokenizer"
    out=$("$BIN" sample --model "$T/shfull/model" --n 8 --max-new-tokens 6 --seed 2 --ban-tokens "<|endoftext|>, the")
    echo "$out" | $PY -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
assert len(rows) == 8 and all(len(r["tokens"]) == 6 for r in rows), rows
assert not any({50256, 262} & set(r["tokens"]) for r in rows), rows' || fail "sample --ban-tokens"
    expect_fail 1 "not a token" "$BIN" sample --model "$T/shfull/model" --ban-tokens "<|nope|>"
    printf 'The nation\n\nOur economy is\n' > "$T/prompts.txt"
    "$BIN" sample --model "$T/shfull/model" --prompts "$T/prompts.txt" --n 2 --max-new-tokens 4 \
        --seed 4 > "$T/multi.jsonl"
    "$BIN" sample --model "$T/shfull/model" --prompt "Our economy is" --n 6 --max-new-tokens 4 \
        --seed 4 > "$T/single.jsonl"
    $PY - "$T/multi.jsonl" "$T/single.jsonl" <<'PYEOF' || fail "sample --prompts"
import json, sys
multi = [json.loads(l) for l in open(sys.argv[1])]
single = [json.loads(l) for l in open(sys.argv[2])]
assert [r["prompt"] for r in multi] == [0, 0, 1, 1, 2, 2], multi
# prompt 2's samples use streams 4 and 5: the same draws as samples 4, 5 of one prompt
assert [r["tokens"] for r in multi[4:]] == [r["tokens"] for r in single[4:6]], (multi, single)
PYEOF
    printf '1 2\n3 99999\n' > "$T/bad_prompts.txt"
    expect_fail 1 "line 2" "$BIN" sample --model "$T/shfull/model" --prompts-tokens "$T/bad_prompts.txt"
else
    echo "skipping shard checks: posterior prepare failed"
fi

# continue training an existing model into a new run directory
"$BIN" train --data "$T/ids.txt" --model "$T/full/model" --out "$T/cont" --steps 3 --batch 2 --seq 16 \
    --warmup 1 --quiet
[ "$(wc -l < "$T/cont/metrics.jsonl")" -eq 3 ] || fail "continued run"
$PY - "$T" <<'EOF' || fail "continued run did not start from the trained model"
import json, sys
t = sys.argv[1]
a = [json.loads(l) for l in open(t + "/full/metrics.jsonl")][-1]["loss"]
b = [json.loads(l) for l in open(t + "/cont/metrics.jsonl")][0]["loss"]
assert b < a + 0.5, (a, b)
EOF

# samples vs logprob
M="$T/full/model"
"$BIN" sample --model "$M" --prompt-tokens "3 13 23" --n 6 --max-new-tokens 12 --seed 9 > "$T/s1.jsonl"
"$BIN" sample --model "$M" --prompt-tokens "3 13 23" --n 40 --max-new-tokens 6 --seed 9 \
    --temperature 0.7 --top-k 4 --top-p 0.9 --ban 0,1 > "$T/s2.jsonl"
"$BIN" sample --model "$M" --prompt-tokens "3 13 23" --n 6 --max-new-tokens 12 --seed 9 --batch 4 > "$T/s1b.jsonl"
$PY - "$T/s1.jsonl" "$T/s1b.jsonl" <<'EOF' || fail "sample --batch changed the draws"
import json, sys
a, b = ([json.loads(l) for l in open(p)] for p in sys.argv[1:])
assert [r["tokens"] for r in a] == [r["tokens"] for r in b]
assert all(abs(x["logprob_model"] - y["logprob_model"]) < 1e-4 for x, y in zip(a, b))
EOF
$PY - "$T" "$BIN" "$M" <<'EOF' || fail "sample log-probs vs posterior logprob"
import json, subprocess, sys
t, binary, model = sys.argv[1:]
prompt = [3, 13, 23]
for name, same in (("s1", True), ("s2", False)):
    rows = [json.loads(l) for l in open("%s/%s.jsonl" % (t, name))]
    assert len(rows) == (6 if same else 40)
    stdin = "".join(" ".join(map(str, prompt + r["tokens"])) + "\n" for r in rows)
    out = subprocess.run([binary, "logprob", "--model", model, "--tokens"], input=stdin.encode(),
                         stdout=subprocess.PIPE, check=True).stdout.decode().split("\n")
    gap = 0
    for r, line in zip(rows, out):
        tl = json.loads(line)["token_logprobs"]
        want = sum(tl[len(prompt) - 1:])
        assert abs(want - r["logprob_model"]) < 1e-4, (want, r)
        if same:
            assert abs(r["logprob_proposal"] - r["logprob_model"]) < 1e-6, r
        else:
            assert not {0, 1} & set(r["tokens"]), r
        gap += r["logprob_proposal"] - r["logprob_model"]
    if not same:
        assert gap > 0, gap   # the truncated, sharpened q puts more mass on what it draws
EOF

# bad input
expect_fail 2 "--data is required" "$BIN" train --out "$T/x"
expect_fail 1 "already holds a training run" "$BIN" train "${common[@]}" --out "$T/full"
printf '1 2 3\n4 five 6\n' > "$T/bad.txt"
expect_fail 1 "line 2: 'five'" "$BIN" train --data "$T/bad.txt" --out "$T/x1" --steps 1 --seq 2 --batch 1
expect_fail 1 "outside the model's vocabulary" "$BIN" train "${common[@]}" --vocab-size 20 --out "$T/x2"
expect_fail 1 "has no checkpoint" "$BIN" train "${common[@]}" --out "$T/x3" --resume
expect_fail 1 "batch is 3 now but the run used 4" "$BIN" train "${common[@]}" --batch 3 --out "$T/part" --resume
# a continued model keeps its architecture: a different flag is refused, naming both values
expect_fail 1 "--n-layer 3, but the checkpoint has n_layer 2" "$BIN" train "${common[@]}" --n-layer 3 --out "$T/part" --resume
expect_fail 1 "--n-embd 64, but $T/full/model has n_embd 32" "$BIN" train --data "$T/ids.txt" --model "$T/full/model" \
    --n-embd 64 --out "$T/x5" --steps 1 --batch 2 --seq 16 --quiet
# a failure before the first checkpoint does not claim one is kept
expect_fail 1 "no checkpoint was written" "$BIN" train --data "$T/ids.txt" --steps 1 --batch 100000 --seq 128 --out "$T/x4" --quiet
printf x >> "$T/part/checkpoints/latest/training_state.bin"
expect_fail 1 "trailing bytes" "$BIN" train "${common[@]}" --out "$T/part" --resume
expect_fail 1 "no end-of-text token" "$BIN" sample --model "$M" --n 1
expect_fail 1 "top_p" "$BIN" sample --model "$M" --prompt-tokens 1 --top-p 0
expect_fail 1 "outside the model's vocabulary" "$BIN" sample --model "$M" --prompt-tokens "1 77"
expect_fail 1 "needs a tokenizer" "$BIN" sample --model "$M" --prompt hi
expect_fail 1 "line 2" "$BIN" logprob --model "$M" --tokens < <(printf '1 2\n3 50\n')
expect_fail 1 "text mode needs" "$BIN" logprob --model "$M" < <(printf 'hello\n')
"$BIN" train --help | grep -q -- "--resume" || fail "train --help"
"$BIN" sample --help | grep -q -- "--top-p" || fail "sample --help"
"$BIN" logprob --help | grep -q -- "--tokens" || fail "logprob --help"
echo "all prior CLI checks passed"
