#!/usr/bin/env bash
# posterior pretrain / pretrain eval end to end on a tiny model and a small scored shard:
#  - every objective trains (3 steps) and writes model/ (+ value_head.safetensors for awr,
#    <|aligned|>/<|misaligned|> in the tokenizer and 2 more vocabulary rows for conditional)
#  - --stop-at + --resume reproduces the uninterrupted run (rwr, awr with its value head's
#    optimizer moments, conditional without drops);
#    conditional with drops refuses to resume
#  - pretrain --objective mle reproduces posterior train's losses and gradient norms
#  - finetuning: conditional from the mle model grows its vocabulary and keeps its weights' shape
#  - filter keeps only documents with mean score <= t (recorded in train_config.json)
#  - eval prints one JSON object with every statistic
#  - bad input: unscored shard with a feedback objective, threshold outside the score range,
#    unknown objective / task, a tokenizer other than the shard's → clear message, exit 1
#    (2 for usage)
set -euo pipefail
BIN=${POSTERIOR_BIN:-build/posterior}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/pst_pretrain_cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/../cli/expect.sh" # fail, expect_fail
export OMP_NUM_THREADS=1

"$BIN" prepare --corpus nlp-corpus --max-docs 600 --scorer toxicity --out "$T/tox" --quiet >/dev/null
"$BIN" prepare --corpus nlp-corpus --max-docs 100 --out "$T/plain" --quiet >/dev/null
small=(--n-layer 1 --n-head 2 --n-embd 16 --n-positions 32 --batch 2 --seq 16 --steps 3 --warmup 1 --quiet)

for o in mle filter conditional unlikelihood rwr awr; do
    "$BIN" pretrain --objective $o --task toxicity --data "$T/tox.train.bin" --val-data "$T/tox.val.bin" \
        --val-batches 1 --out "$T/$o" "${small[@]}" > "$T/$o.json" || fail "pretrain $o"
    grep -q "\"objective\": \"$o\"" "$T/$o.json" || fail "$o summary: $(cat "$T/$o.json")"
    [ -f "$T/$o/model/model.safetensors" ] && [ -f "$T/$o/model/vocab.json" ] || fail "$o: no model"
    [ "$(wc -l < "$T/$o/metrics.jsonl")" -eq 3 ] || fail "$o: metrics lines"
done
[ -f "$T/awr/model/value_head.safetensors" ] || fail "awr: no value head"
[ ! -f "$T/rwr/model/value_head.safetensors" ] || fail "rwr has a value head"
$PY - "$T" <<'EOF'
import json, sys
t = sys.argv[1]
cfg = lambda o: json.load(open(f"{t}/{o}/model/config.json"))
assert cfg("conditional")["vocab_size"] == cfg("mle")["vocab_size"] + 2, "conditional vocabulary"
added = json.load(open(f"{t}/conditional/model/added_tokens.json"))
assert "<|aligned|>" in added and "<|misaligned|>" in added, added
tc = json.load(open(f"{t}/filter/train_config.json"))
assert tc["objective"] == "filter" and 0 < tc["kept_documents"], tc
# an independent count of kept documents: nlp-corpus's sentences whose toxicity is <= t
# equals the mean over one-segment documents; at least the filter dropped some
tm = json.load(open(f"{t}/mle/train_config.json"))
assert tc["kept_documents"] < tm["kept_documents"], (tc["kept_documents"], tm["kept_documents"])
assert tc["threshold"] == 0.00056 and tc["drop_fraction"] == 0.01 and tc["ul_alpha"] == 1
EOF

# the objective hook reproduces the plain MLE loop: pretrain --objective mle = posterior train
"$BIN" train --data "$T/tox.train.bin" --out "$T/train_mle" --n-layer 1 --n-head 2 --n-embd 16 --n-positions 32 \
    --batch 2 --seq 16 --steps 3 --warmup 1 --lr 1e-3 --quiet >/dev/null
$PY - "$T" <<'EOF2'
import json, sys
t = sys.argv[1]
a = [json.loads(l) for l in open(f"{t}/mle/metrics.jsonl")]
b = [json.loads(l) for l in open(f"{t}/train_mle/metrics.jsonl")]
assert len(a) == len(b) == 3
for x, y in zip(a, b):
    assert abs(x["loss"] - y["loss"]) < 1e-5 * abs(y["loss"]), (x, y)
    assert abs(x["grad_norm"] - y["grad_norm"]) < 1e-4 * abs(y["grad_norm"]), (x, y)
    assert abs(x["lm_loss"] - y["loss"]) < 1e-5 * abs(y["loss"]), (x, y)
EOF2

# resume: a run stopped at step 2 and resumed ends with the uninterrupted run's metrics and model
for o in rwr conditional awr; do
    r=(--objective $o --task toxicity --data "$T/tox.train.bin" --drop-fraction 0 --save-every 2
       --n-layer 1 --n-head 2 --n-embd 16 --n-positions 32 --batch 2 --seq 16 --steps 4 --warmup 1 --quiet)
    "$BIN" pretrain "${r[@]}" --out "$T/full_$o" >/dev/null
    "$BIN" pretrain "${r[@]}" --out "$T/part_$o" --stop-at 2 >/dev/null
    [ "$(wc -l < "$T/part_$o/metrics.jsonl")" -eq 2 ] || fail "$o: --stop-at 2"
    "$BIN" pretrain "${r[@]}" --out "$T/part_$o" --resume >/dev/null || fail "$o: --resume"
    $PY - "$T/full_$o/metrics.jsonl" "$T/part_$o/metrics.jsonl" <<'EOF2'
import json, sys
a = [json.loads(l) for l in open(sys.argv[1])]
b = [json.loads(l) for l in open(sys.argv[2])]
key = lambda r: (r["step"], r["loss"], r["grad_norm"], r["lm_loss"])
assert [key(r) for r in a] == [key(r) for r in b], (a, b)
EOF2
    cmp -s "$T/full_$o/model/model.safetensors" "$T/part_$o/model/model.safetensors" || fail "$o: resumed model differs"
    [ $o != awr ] || cmp -s "$T/full_$o/model/value_head.safetensors" "$T/part_$o/model/value_head.safetensors" ||
        fail "awr: resumed value head (or its optimizer moments) differs"
done
"$BIN" pretrain --objective conditional --task toxicity --data "$T/tox.train.bin" --out "$T/drop" --stop-at 1 \
    "${small[@]}" >/dev/null
expect_fail 1 "cannot be resumed" "$BIN" pretrain --objective conditional --task toxicity --data "$T/tox.train.bin" \
    --out "$T/drop" --resume "${small[@]}"

# finetuning: conditional training from the MLE model
"$BIN" pretrain --objective conditional --task toxicity --data "$T/tox.train.bin" --model "$T/mle/model" \
    --out "$T/ft" "${small[@]}" >/dev/null || fail "finetune"
$PY -c "
import json,sys
a=json.load(open('$T/mle/model/config.json')); b=json.load(open('$T/ft/model/config.json'))
assert b['vocab_size']==a['vocab_size']+2 and b['n_embd']==a['n_embd'], (a,b)
assert json.load(open('$T/ft/train_config.json'))['init']=='$T/mle/model'"

# evaluation
printf 'You are\nThe president said\n' > "$T/prompts.txt"
"$BIN" pretrain eval --task toxicity --model "$T/conditional/model" --samples 6 --k 3 --max-new-tokens 8 \
    --prompts "$T/prompts.txt" --samples-per-prompt 2 --val-data "$T/tox.val.bin" --val-batches 1 \
    --batch 2 --seq 16 --reference "$T/mle/model" --kl-samples 4 --out "$T/eval.json" > "$T/eval.out"
$PY - "$T" <<'EOF'
import json, sys
t = sys.argv[1]
r = json.loads(open(f"{t}/eval.out").read())
assert r == json.load(open(f"{t}/eval.json"))
assert r["prefix"] == "aligned" and r["samples"] == 6 and r["prompted_samples"] == 4, r
for k in ["mean_score", "expected_max_score", "fraction_above", "prompted_mean_score", "lm_loss",
          "kl_from_reference", "distinct_1", "distinct_2", "self_bleu_5"]:
    assert isinstance(r[k], float) or isinstance(r[k], int), (k, r[k])
assert 0 <= r["mean_score"] <= r["expected_max_score"] <= 1 and 0 <= r["distinct_1"] <= 1
assert 9 < r["lm_loss"] < 12, r["lm_loss"]  # ~ln(50259) for a 3-step model
EOF

# `posterior eval` without --spec is the same evaluation
"$BIN" eval --task toxicity --model "$T/conditional/model" --samples 6 --k 3 --max-new-tokens 8 > "$T/e1.json"
"$BIN" pretrain eval --task toxicity --model "$T/conditional/model" --samples 6 --k 3 --max-new-tokens 8 > "$T/e2.json"
$PY -c "
import json
a = json.load(open('$T/e1.json')); b = json.load(open('$T/e2.json'))
a.pop('seconds'); b.pop('seconds')
assert a == b, (a, b)"

# bad input
expect_fail 1 "no segment scores" "$BIN" pretrain --objective rwr --task toxicity --data "$T/plain.train.bin" --out "$T/x1" "${small[@]}"
expect_fail 1 "outside the score range" "$BIN" pretrain --objective unlikelihood --threshold 7 --data "$T/tox.train.bin" --out "$T/x2" "${small[@]}"
expect_fail 1 "unknown objective 'ppo'" "$BIN" pretrain --objective ppo --task toxicity --data "$T/tox.train.bin" --out "$T/x3" "${small[@]}"
expect_fail 1 "unknown task 'spam'" "$BIN" pretrain --objective mle --task spam --data "$T/tox.train.bin" --out "$T/x4" "${small[@]}"
expect_fail 1 "percentile 120" "$BIN" pretrain --objective filter --threshold-percentile 120 --data "$T/tox.train.bin" --out "$T/x5" "${small[@]}"
expect_fail 2 "--data is required" "$BIN" pretrain --objective mle --out "$T/x6"
printf 'a small text to learn a few merges from, a small text\n' > "$T/tok.txt"
"$BIN" tokenizer train --corpus "$T/tok.txt" --vocab-size 270 --out "$T/tok" >/dev/null 2>&1
expect_fail 1 "pass that tokenizer with --tokenizer" "$BIN" pretrain --objective mle --data "$T/tox.train.bin" --tokenizer "$T/tok" --out "$T/x7" "${small[@]}"
expect_fail 1 "not a conditional model" "$BIN" pretrain eval --task toxicity --model "$T/mle/model" --prefix aligned --samples 2
echo "pretrain CLI ok"
