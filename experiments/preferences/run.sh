#!/usr/bin/env bash
# Issue 16's experiment: preferences with a known oracle. Pairs from the prior labelled by the
# oracle scorer with known Bradley-Terry noise; a reward model trained on them (held-out
# accuracy against the oracle's achievable accuracy); then, at one budget, DPG on the KL-RL
# target a·exp(r_RM/β), RL on r_RM (PPO when `tune` knows it, else RLOO) and DPO on the pairs,
# each scored by the oracle and by KL(π‖a); and reward over-optimisation: the oracle's and the
# RM's score of the DPG policy along training.
#
#   experiments/preferences/run.sh [--quick] PRIOR_DIR OUT_DIR
#
# PRIOR_DIR: a model directory with its tokenizer (the code prior for ORACLE=pep8).
# Env: P (binary), ORACLE (pep8), PREFER (low: the oracle is a cost), NOISE (0.01: the BT
# temperature of the labels, in the oracle's units), N_PAIRS (4000), BETA (0.1), SEEDS ("1 2 3"),
# STEPS x BATCH (200 x 64; DPO: BATCH/2 pairs a step, the same number of sequences),
# STAGES ("25 50 100 200": over-optimisation checkpoints of seed 1's DPG), EVAL_N (512),
# OMP_NUM_THREADS (1). Resumable: a finished piece (its .json exists) is skipped.
# --quick: 64 pairs, 1 epoch, 2 steps x 8, 16-sample evals, one seed, STAGES "1 2": a smoke test.
# Writes OUT_DIR/{pairs.jsonl,pairs.jsonl.meta.json,rm/,rm.json,*_target.json,METHOD_sSEED.json,
# overopt_STEP.json,table.md}.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
quick=0
[ "${1:-}" = --quick ] && { quick=1; shift; }
prior=$(cd "$1" && pwd); out=$2
P=${P:-$ROOT/build/posterior}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
oracle=${ORACLE:-pep8}; prefer=${PREFER:-low}; noise=${NOISE:-0.01}; n_pairs=${N_PAIRS:-4000}
beta=${BETA:-0.1}; seeds=${SEEDS:-1 2 3}; steps=${STEPS:-200}; batch=${BATCH:-64}
stages=${STAGES:-25 50 100 200}; eval_n=${EVAL_N:-512}; epochs=3
if [ $quick = 1 ]; then n_pairs=64; epochs=1; seeds=1; steps=2; batch=8; stages="1 2"; eval_n=16; fi
mkdir -p "$out"
log() { echo "$(date -u +%H:%M:%S) $*" >&2; }
method=rloo; rl_flags=(--method rloo --reward log-evidence --kl-coef 1 --group-size 4)
if [[ $("$P" tune --help 2>&1) == *"--method"*ppo* ]]; then method=ppo; rl_flags=(--method ppo --reward log-evidence --kl-coef 1); fi

# 1. pairs from the prior, labelled by the oracle with known noise
if [ ! -f "$out/pairs.jsonl" ]; then
  log "pairs: $n_pairs, oracle $oracle (prefer $prefer), noise $noise"
  "$P" pairs make --model "$prior" --scorer "$oracle" --prefer "$prefer" --n "$n_pairs" --noise "$noise" \
      --max-new-tokens 40 --seed 11 --out "$out/pairs.jsonl" > /dev/null
fi
# 2. the reward model
if [ ! -f "$out/rm.json" ]; then
  log "rm train"
  "$P" rm train --pairs "$out/pairs.jsonl" --init "$prior" --out "$out/rm" --epochs "$epochs" --batch 16 \
      --lr 1e-4 --held-out 0.1 --seed 1 --quiet > "$out/rm.json.tmp"
  mv "$out/rm.json.tmp" "$out/rm.json"
fi
# 3. targets: the oracle's (to measure E_π[oracle]) and the RM's a·exp(r_RM/β) (to train on)
[ -f "$out/oracle_target.json" ] || "$P" target init --kind klrl --kl-beta "$beta" --prior "$prior" \
    --out "$out/oracle_target.json" "$oracle" > /dev/null
[ -f "$out/rm_target.json" ] || "$P" target init --kind klrl --kl-beta "$beta" --prior "$prior" \
    --out "$out/rm_target.json" "rm:$out/rm" > /dev/null

measure() { # model, name, seed: E_π[oracle], KL(π‖a) (and its ESS), length, distinct-2, E_π[r_RM] -> OUT/name.json
  [ -f "$out/$2.json" ] && return 0
  "$P" eval --model "$1" --spec "$out/oracle_target.json" --n "$eval_n" --max-new-tokens 40 --n-exact 0 --seed "$3" \
      > "$out/$2.oracle.tmp" 2>> "$out/$2.log"
  "$P" eval --model "$1" --spec "$out/rm_target.json" --n "$eval_n" --max-new-tokens 40 --n-exact 0 --seed "$3" \
      > "$out/$2.rm.tmp" 2>> "$out/$2.log"
  /usr/bin/python3 - "$out/$2.oracle.tmp" "$out/$2.rm.tmp" > "$out/$2.json.tmp" <<'PY'
import json, sys
o, r = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
print(json.dumps({"oracle": o["alignment"][0], "oracle_se": o.get("alignment_se", [None])[0],
                  "rm": r["alignment"][0], "kl_pi_a": o["kl_pi_a"], "kl_pi_a_se": o.get("kl_pi_a_se"),
                  "ess": o.get("ess"), "mean_length": o.get("mean_length"), "distinct_2": o.get("distinct_2")}))
PY
  rm -f "$out/$2.oracle.tmp" "$out/$2.rm.tmp"
  mv "$out/$2.json.tmp" "$out/$2.json"
}

tune() { # name, seed, spec, flags...: one training run at the shared budget, then measured
  local name=$1 seed=$2 spec=$3; shift 3
  [ -f "$out/${name}_s$seed.json" ] && return 0
  log "$name seed $seed"
  rm -rf "$out/run_${name}_s$seed"
  "$P" tune --spec "$spec" --out "$out/run_${name}_s$seed" --steps "$steps" --lr 1e-4 --lr-min 1e-5 \
      --max-new-tokens 40 --n-exact 0 --seed "$seed" --quiet "$@" > /dev/null 2> "$out/${name}_s$seed.log"
  cp "$out/run_${name}_s$seed/metrics.jsonl" "$out/${name}_s$seed.metrics.jsonl"
  measure "$out/run_${name}_s$seed/model" "${name}_s$seed" "$seed"
  rm -rf "$out/run_${name}_s$seed"
}

measure "$prior" prior_s1 1
for seed in $seeds; do
  tune dpg "$seed" "$out/rm_target.json" --method dpg --batch "$batch"
  tune "$method" "$seed" "$out/rm_target.json" "${rl_flags[@]}" --batch "$batch"
  tune dpo "$seed" "$out/oracle_target.json" --method dpo --pairs "$out/pairs.jsonl" --kl-coef "$beta" \
      --batch $((batch / 2))
done

# 4. over-optimisation: seed 1's DPG on r_RM, stopped and measured at each stage
run=$out/run_overopt
for s in $stages; do
  [ -f "$out/overopt_$s.json" ] && continue
  log "over-optimisation: DPG to step $s"
  resume=(); [ -f "$run/run.json" ] && resume=(--resume)
  "$P" tune --spec "$out/rm_target.json" --out "$run" --method dpg --steps "$s" --batch "$batch" --lr 1e-4 \
      --lr-min 1e-4 --max-new-tokens 40 --n-exact 0 --seed 1 --quiet "${resume[@]}" > /dev/null 2>> "$out/overopt.log"
  measure "$run/model" "overopt_$s" 1
done
/usr/bin/python3 "$HERE/table.py" "$out" > "$out/table.md.tmp" && mv "$out/table.md.tmp" "$out/table.md"
cat "$out/table.md"
