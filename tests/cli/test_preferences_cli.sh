#!/usr/bin/env bash
# Preferences end to end on a tiny model (issue 16): pairs make, rm train, rm: as a scorer,
# tune --method dpo, and their bad inputs.
#  - rm train on pairs whose chosen text says "good" and rejected "bad" reaches held-out
#    accuracy >= 0.9; its directory is a GPT2ForSequenceClassification (score.weight [1, C]
#    beside transformer.*, id2label) with metrics.jsonl (loss, accuracy, reliability table);
#    `score --scorer rm:DIR` ranks a "good" text above a "bad" one
#  - pairs make: deterministic labels agree with the oracle; with --noise the meta file's
#    achievable accuracy is in (0.5, 1); the same seed gives the same file
#  - tune --method dpo: the training loss goes down, metrics.jsonl has the held-out implicit
#    reward accuracy, KL(pi||a) and the exact-sample KL(p||pi); OUT/model loads
#  - bad input: a malformed line / empty / identical texts (named by line, the rest kept), a
#    file with no pair left, texts longer than the context, an rm: directory without a head,
#    dpo options without --method dpo, cDPO with ipo, --method dpo without --pairs
set -euo pipefail
BIN=${POSTERIOR_BIN:-build/posterior}
PY=/usr/bin/python3
T=$(mktemp -d /tmp/pst_prefs_cli.XXXXXX)
trap 'rm -rf "$T"' EXIT
. "$(dirname "$0")/expect.sh" # fail, expect_fail
export OMP_NUM_THREADS=1

# a tiny prior with a tokenizer: a few merges, 60 steps on the corpus's ids
$PY - "$T" <<'EOF'
import random, sys
random.seed(1)
words = "the a cat dog sat ran on mat good bad day is was very".split()
lines = [" ".join(random.choice(words) for _ in range(random.randint(3, 8))) for _ in range(400)]
open(sys.argv[1] + "/corpus.txt", "w").write("\n".join(lines) + "\n")
# pairs: chosen says good, rejected says bad (same prompt); line 3 malformed, 5 empty, 7 identical
import json
out = []
for i in range(160):
    p = random.choice(["", "the cat ", "a dog "])
    filler = " ".join(random.choice(words[:8]) for _ in range(random.randint(1, 4)))
    out.append(json.dumps({"prompt": p, "chosen": filler + " good", "rejected": filler + " bad"}))
out[2] = '{"prompt": "x", "chosen": "y"'
out[4] = json.dumps({"prompt": "", "chosen": "", "rejected": "bad"})
out[6] = json.dumps({"prompt": "", "chosen": "same", "rejected": "same"})
open(sys.argv[1] + "/pairs.jsonl", "w").write("\n".join(out) + "\n")
EOF
"$BIN" tokenizer train --corpus "$T/corpus.txt" --vocab-size 300 --out "$T/tok" >/dev/null 2>&1
"$BIN" tokenize --model "$T/tok" < "$T/corpus.txt" > "$T/ids.txt"
"$BIN" train --data "$T/ids.txt" --tokenizer "$T/tok" --n-layer 2 --n-head 2 --n-embd 32 --n-positions 48 \
    --batch 8 --seq 32 --steps 60 --lr 3e-3 --warmup 5 --quiet --seed 1 --out "$T/prior" >/dev/null
M="$T/prior/model"

# rm train: bad lines named, the rest kept
"$BIN" rm train --pairs "$T/pairs.jsonl" --init "$M" --out "$T/rm" --epochs 4 --batch 8 --lr 1e-3 --warmup 2 \
    --held-out 0.2 --eval-every 20 --quiet --seed 3 > "$T/rm.json" 2> "$T/rm.err"
for l in 3 5 7; do grep -q "pairs.jsonl:$l:" "$T/rm.err" || fail "rm train: line $l not named: $(cat "$T/rm.err")"; done
$PY - "$T" <<'EOF'
import json, struct, sys
T = sys.argv[1]
s = json.load(open(T + "/rm.json"))
assert s["pairs"] == 157 and s["skipped"] == 3, s
assert s["held_out_pairs"] == 31 and s["held_out_accuracy"] >= 0.9, s
rows = [json.loads(l) for l in open(T + "/rm/metrics.jsonl")]
assert rows[-1]["step"] == rows[-1]["steps"] and len(rows) >= 2, rows
assert rows[-1]["held_out_loss"] < rows[0]["held_out_loss"], [r["held_out_loss"] for r in rows]
rel = rows[-1]["reliability"]
assert len(rel) == 5 and sum(b["n"] for b in rel) == 31, rel
cfg = json.load(open(T + "/rm/config.json"))
assert cfg["architectures"] == ["GPT2ForSequenceClassification"] and cfg["id2label"] == {"0": "LABEL_0"}, cfg
data = open(T + "/rm/model.safetensors", "rb").read()
(n,) = struct.unpack("<Q", data[:8])
hdr = json.loads(data[8:8 + n])
assert hdr["score.weight"]["shape"] == [1, 32], hdr["score.weight"]
assert "transformer.h.1.attn.c_attn.weight" in hdr and "transformer.wte.weight" in hdr, sorted(hdr)[:5]
EOF
printf '{"text": "the cat sat good"}\n{"text": "the cat sat bad"}\n' > "$T/texts.jsonl"
"$BIN" score --scorer "rm:$T/rm" --jsonl --no-findings < "$T/texts.jsonl" > "$T/scores.jsonl"
$PY -c '
import json, sys
s = [json.loads(l)["score"] for l in open(sys.argv[1])]
assert s[0] > s[1], s' "$T/scores.jsonl"

# pairs make: deterministic labels follow the oracle; noise is recorded; the seed fixes the file
"$BIN" pairs make --model "$M" --scorer 'contains:good' --n 40 --max-new-tokens 12 --seed 2 --out "$T/made.jsonl" >/dev/null
$PY - "$T/made.jsonl" <<'EOF'
import json, re, sys
for l in open(sys.argv[1]):
    p = json.loads(l)
    g = lambda t: bool(re.search(r"\bgood\b", t, re.I))
    assert p["tie"] == (g(p["chosen"]) == g(p["rejected"])), p
    assert p["tie"] or (g(p["chosen"]) and not g(p["rejected"])), p
EOF
"$BIN" pairs make --model "$M" --scorer 'length:1:30' --n 40 --noise 0.5 --max-new-tokens 12 --seed 2 --out "$T/noisy.jsonl" >/dev/null
"$BIN" pairs make --model "$M" --scorer 'length:1:30' --n 40 --noise 0.5 --max-new-tokens 12 --seed 2 --out "$T/noisy2.jsonl" >/dev/null
cmp -s "$T/noisy.jsonl" "$T/noisy2.jsonl" || fail "pairs make: the same seed gave different pairs"
$PY -c '
import json, sys
m = json.load(open(sys.argv[1]))
assert m["noise"] == 0.5 and m["pairs"] == 40 and 0.5 <= m["achievable_accuracy"] < 1, m' "$T/noisy.jsonl.meta.json"

# tune --method dpo against a target (its prior is the reference, its exact samples the yardstick)
"$BIN" target init --prior "$M" --out "$T/target.json" 'contains:good' >/dev/null
"$BIN" tune --method dpo --spec "$T/target.json" --pairs "$T/pairs.jsonl" --out "$T/dpo" --steps 24 --batch 8 \
    --lr 1e-3 --exact-every 12 --n-exact 50 --max-new-tokens 12 --seed 1 --quiet > "$T/dpo.json" 2>/dev/null
$PY - "$T" <<'EOF'
import json, sys
T = sys.argv[1]
rows = [json.loads(l) for l in open(T + "/dpo/metrics.jsonl")]
assert [r["step"] for r in rows] == [12, 24], rows
assert rows[1]["train_loss"] < rows[0]["train_loss"] < 0.75, [r["train_loss"] for r in rows]
for k in ("held_out_accuracy", "held_out_margin", "kl_pi_a", "kl_pi_a_se", "kl_p_pi_exact", "kl_p_pi_exact_se"):
    assert rows[-1][k] is not None, (k, rows[-1])
assert rows[-1]["held_out_accuracy"] >= 0.8 and rows[-1]["kl_pi_a"] > 0, rows[-1]
run = json.load(open(T + "/dpo/run.json"))
assert run["method"] == "dpo" and run["loss"] == "sigmoid" and run["dpo_beta"] == 0.1, run
EOF
"$BIN" logprob --model "$T/dpo/model" --help >/dev/null
[ -f "$T/dpo/model/config.json" ] && [ -f "$T/dpo/model/vocab.json" ] || fail "tune --method dpo: no OUT/model"

# bad input
printf '{"prompt": "", "chosen": "", "rejected": "x"}\nnot json\n' > "$T/none.jsonl"
expect_fail 1 "no usable preference pair" "$BIN" rm train --pairs "$T/none.jsonl" --init "$M" --out "$T/x1"
[ ! -e "$T/x1" ] || fail "rm train wrote --out after a bad pairs file"
$PY -c '
import json
print(json.dumps({"prompt": "", "chosen": "good", "rejected": "bad"}))
print(json.dumps({"prompt": "", "chosen": "the cat " * 40, "rejected": "bad"}))' > "$T/long.jsonl"
expect_fail 1 "long.jsonl:2: chosen" "$BIN" rm train --pairs "$T/long.jsonl" --init "$M" --out "$T/x2"
expect_fail 1 "longer than the context of 48" "$BIN" rm train --pairs "$T/long.jsonl" --init "$M" --out "$T/x2"
expect_fail 1 "longer than the context" "$BIN" tune --method dpo --spec "$T/target.json" --pairs "$T/long.jsonl" --out "$T/x3" --steps 2 --n-exact 0
expect_fail 2 "no reward head" "$BIN" score --scorer "rm:$M" --jsonl < "$T/texts.jsonl"
expect_fail 2 "rm:DIR" "$BIN" score --scorer "rm:" --jsonl < "$T/texts.jsonl"
printf '{"text": "%s"}\n' "$(printf 'the cat %.0s' $(seq 40))" > "$T/longtext.jsonl"
expect_fail 1 "longer than the context of 48" "$BIN" score --scorer "rm:$T/rm" --jsonl < "$T/longtext.jsonl"
expect_fail 2 "--pairs is an option of --method dpo" "$BIN" tune --spec "$T/target.json" --pairs "$T/pairs.jsonl" --out "$T/x4"
expect_fail 2 "--method dpo needs --pairs" "$BIN" tune --method dpo --spec "$T/target.json" --out "$T/x5"
expect_fail 2 "sigmoid loss only" "$BIN" tune --method dpo --loss ipo --label-smoothing 0.1 --spec "$T/target.json" --pairs "$T/pairs.jsonl" --out "$T/x6"
expect_fail 2 "--loss: unknown value 'kto'" "$BIN" tune --method dpo --loss kto --spec "$T/target.json" --pairs "$T/pairs.jsonl" --out "$T/x7"
expect_fail 2 "must be > 0, got 0 (--kl-coef)" "$BIN" tune --method dpo --kl-coef 0 --spec "$T/target.json" --pairs "$T/pairs.jsonl" --out "$T/x10"
expect_fail 2 "--scorer is required" "$BIN" pairs make --model "$M" --out "$T/x8.jsonl"
expect_fail 1 "no reward head" "$BIN" pairs make --model "$M" --scorer "rm:$M" --n 2 --out "$T/x9.jsonl"
echo "preferences CLI ok"
