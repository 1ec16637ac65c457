#!/usr/bin/env bash
# Issue 14's comparison: KL-regularised RL beside distribution matching, at the same sample
# budget, every model measured like the demo (E_pi[b], exact KL(p||pi) on exact samples of p,
# KL(pi||a), distinct-2, mean length).
#
#   experiments/rl_vs_dm/run.sh [--quick] DEMO_DIR OUT_DIR
#
# DEMO_DIR: a `make demo` run folder (prior/, target.json = contains:you,your, and
# reference.jsonl = exact samples of that target). Tasks (TASKS, default "a c b"):
#   a  the demo's pointwise target p ∝ a·b, b = [mentions "you"/"your"]
#   b  a distributional one: E_p[φ] = 0.5 for φ = [starts with "I"] (fitted λ)
#   c  KL-RL targets p ∝ a·exp(r/β), r = b above (CONSTRAINT, default contains:you,your),
#      β = 1 and 0.25: chapter 2's point
# Methods per task are listed below; PPO runs only if the binary knows `--method ppo`.
# Env: P (binary), SEEDS (default "1 2 3"), STEPS x BATCH (default 200 x 128), EVAL_N (512),
# REF_N (2000 exact samples for the targets made here), OMP_NUM_THREADS (default 1).
# Resumable: a run whose eval exists is skipped; an unfinished one resumes from its checkpoint; a tune that
# fails is recorded (NAME.failed, its last message), listed in the table and not retried.
# --quick: 3 steps x 16 samples, 32-sample evals, one seed, for CI's smoke test.
# Writes OUT_DIR/TASK/METHOD_sSEED.{eval.json,metrics.jsonl,run.json}, OUT_DIR/table.md and the
# curves OUT_DIR/TASK.svg (curves.py).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
quick=0
[ "${1:-}" = --quick ] && { quick=1; shift; }
demo=$(cd "$1" && pwd); out=$2
P=${P:-$ROOT/build/posterior}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
seeds=${SEEDS:-1 2 3}; steps=${STEPS:-200}; batch=${BATCH:-128}
eval_n=${EVAL_N:-512}; ref_n=${REF_N:-2000}; tasks=${TASKS:-a c b}
if [ $quick = 1 ]; then seeds=1; steps=3; batch=16; eval_n=32; ref_n=64; fi
mkdir -p "$out"
has_ppo=0
case "$("$P" tune --help 2>&1)" in *--ppo-epochs*) has_ppo=1 ;; esac # (grep -q would end the pipe early: SIGPIPE)

run() { # task, spec, reference, name, seed, tune flags...
  local task=$1 spec=$2 ref=$3 name=$4 seed=$5; shift 5
  local d=$out/$task base=$out/$task/${name}_s$seed
  mkdir -p "$d"
  [ -f "$base.eval.json" ] && return 0
  local run_dir=$d/run_${name}_s$seed
  [ -f "$base.failed" ] && return 0
  echo "$(date -u +%H:%M:%S) $task $name seed $seed" >&2
  local how=(--steps "$steps" --batch "$batch" --lr 1e-4 --lr-min 1e-5 --max-new-tokens 40 --reference "$ref"
             --exact-every 25 --seed "$seed" "$@")
  [ -f "$run_dir/run.json" ] && how=(--resume) # an interrupted run continues from its checkpoint
  if ! "$P" tune --spec "$spec" --out "$run_dir" --quiet "${how[@]}" 2>> "$base.log"; then
    tail -1 "$base.log" > "$base.failed" # the reason, listed in the table
    rm -rf "$run_dir"
    return 0
  fi
  "$P" eval --model "$run_dir/model" --spec "$spec" --n "$eval_n" --max-new-tokens 40 \
      --reference "$ref" --show 3 --seed "$seed" > "$base.eval.json.tmp" 2>> "$base.log"
  cp "$run_dir/metrics.jsonl" "$base.metrics.jsonl"
  cp "$run_dir/run.json" "$base.run.json"
  rm -rf "$run_dir"
  mv "$base.eval.json.tmp" "$base.eval.json"
}

reference() { # spec, out file: exact samples of p by rejection from the prior
  [ -f "$2" ] || "$P" target sample --spec "$1" --sampler rs --n "$ref_n" --max-new-tokens 40 \
      --seed 101 --out "$2" > /dev/null
}

prior_eval() { # task, spec, reference, seed: the prior itself, measured the same way
  local base=$out/$1/prior_s$4
  mkdir -p "$out/$1"
  [ -f "$base.eval.json" ] && return 0
  "$P" eval --model "$prior" --spec "$2" --n "$eval_n" --max-new-tokens 40 --reference "$3" \
      --show 3 --seed "$4" > "$base.eval.json.tmp" 2> "$base.log"
  mv "$base.eval.json.tmp" "$base.eval.json"
}

methods_dm_rl() { # task, spec, reference, seed: the pointwise and distributional tasks
  local t=$1 s=$2 r=$3 seed=$4
  prior_eval "$t" "$s" "$r" "$seed"
  run "$t" "$s" "$r" dpg_kl_adaptive "$seed" --method dpg --variant kl-adaptive
  run "$t" "$s" "$r" gdc_pp "$seed" --method dpg --variant baseline
  run "$t" "$s" "$r" fdpg_js "$seed" --method dpg --variant f --f js
  run "$t" "$s" "$r" reinforce_b "$seed" --method reinforce --reward evidence
  run "$t" "$s" "$r" reinforce_logp "$seed" --method reinforce --reward log-target
  run "$t" "$s" "$r" reinforce_b_kl "$seed" --method reinforce --reward evidence --kl-coef 0.1
  run "$t" "$s" "$r" rloo_b_kl "$seed" --method rloo --reward evidence --kl-coef 0.1 --group-size 4
  [ $has_ppo = 0 ] || run "$t" "$s" "$r" ppo_b_adaptive "$seed" --method ppo --reward evidence
}

methods_klrl() { # task, spec, reference, seed, beta: the optimum of each with KL is p itself
  local t=$1 s=$2 r=$3 seed=$4 beta=$5
  prior_eval "$t" "$s" "$r" "$seed"
  run "$t" "$s" "$r" reinforce_nokl "$seed" --method reinforce --reward log-evidence
  run "$t" "$s" "$r" reinforce_kl "$seed" --method reinforce --reward log-evidence --kl-coef 1
  run "$t" "$s" "$r" fdpg_rkl "$seed" --method dpg --variant f --f rkl
  run "$t" "$s" "$r" dpg_kl_adaptive "$seed" --method dpg --variant kl-adaptive
  run "$t" "$s" "$r" gdc_pp "$seed" --method dpg --variant baseline
  [ $has_ppo = 0 ] || run "$t" "$s" "$r" ppo_fixed "$seed" --method ppo --reward log-evidence --kl-coef 1 --kl-target 0
}

prior=$demo/prior/model; [ -d "$prior" ] || prior=$demo/prior
for task in $tasks; do
  case $task in
  a) ref=$demo/reference.jsonl
     [ $quick = 0 ] || { ref=$out/a_reference.jsonl; reference "$demo/target.json" "$ref"; }
     for seed in $seeds; do methods_dm_rl a "$demo/target.json" "$ref" "$seed"; done ;;
  b) spec=$out/b_target.json
     if [ ! -f "$spec" ]; then
       "$P" target init --kind distributional --prior "$prior" --moments 0.5 --out "$spec.tmp" 'regex:^I\b'
       "$P" target fit --spec "$spec.tmp" --n $((quick ? 256 : 20000)) --max-new-tokens 40 --seed 7 \
           > "$out/b_fit.json"
       mv "$spec.tmp" "$spec"
     fi
     reference "$spec" "$out/b_reference.jsonl"
     for seed in $seeds; do methods_dm_rl b "$spec" "$out/b_reference.jsonl" "$seed"; done ;;
  c) for beta in 1 0.25; do
       spec=$out/c_beta$beta.json
       [ -f "$spec" ] || "$P" target init --kind klrl --kl-beta "$beta" --prior "$prior" --out "$spec" \
           "${CONSTRAINT:-contains:you,your}"
       reference "$spec" "$out/c_beta${beta}_reference.jsonl"
       for seed in $seeds; do methods_klrl "c_beta$beta" "$spec" "$out/c_beta${beta}_reference.jsonl" "$seed" "$beta"; done
     done ;;
  esac
done
/usr/bin/python3 "$HERE/table.py" "$out" > "$out/table.md.tmp" && mv "$out/table.md.tmp" "$out/table.md"
/usr/bin/python3 "$HERE/curves.py" "$out" > /dev/null # OUT_DIR/TASK.svg: exact KL and E_pi[phi] per step
"$P" report "$out"/*/ --out "$out/report.html" --title "RL against distribution matching" > /dev/null || echo "$0: posterior report failed" >&2
cat "$out/table.md"
