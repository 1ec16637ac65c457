#!/usr/bin/env bash
# A pilot of issue 14's comparison on the demo's target (b = contains:you,your on a demo prior):
# the same sample budget (STEPS x BATCH samples) for DPG with a baseline and for the RL
# methods on b, each measured like the demo (512 policy samples, exact samples of p).
#   experiments/rl_vs_dm/pilot.sh DEMO_DIR OUT_DIR       (env: P, STEPS=200, BATCH=128, SEED=1)
# DEMO_DIR: a `make demo` run folder (target.json, reference.jsonl). Resumable: a finished
# eval is kept.
set -euo pipefail
demo=$1; out=$2
P=${P:-build-native/posterior}; steps=${STEPS:-200}; batch=${BATCH:-128}; seed=${SEED:-1}
mkdir -p "$out"
run() { # name, tune flags...
  local name=$1; shift
  [ -f "$out/$name.eval.json" ] && return 0
  rm -rf "$out/$name"
  "$P" tune --spec "$demo/target.json" --out "$out/$name" --steps "$steps" --batch "$batch" --lr 1e-4 \
      --lr-min 1e-5 --max-new-tokens 40 --seed "$seed" --quiet "$@" 2> "$out/$name.log"
  "$P" eval --model "$out/$name/model" --spec "$demo/target.json" --n 512 --max-new-tokens 40 \
      --reference "$demo/reference.jsonl" --show 3 --seed "$seed" > "$out/$name.eval.json.tmp" 2>> "$out/$name.log"
  mv "$out/$name.eval.json.tmp" "$out/$name.eval.json"
}
run dpg_baseline --method dpg --variant baseline
run reinforce_b --method reinforce --reward evidence
run rloo_b --method rloo --reward evidence --group-size 4
run reinforce_b_kl --method reinforce --reward evidence --kl-coef 0.1
python3 - "$out" <<'PY'
import json, sys, os
out = sys.argv[1]
print("| method | E_π[b] | KL(p‖π), exact samples of p | KL(π‖a) | distinct-2 | mean length |")
print("|---|---|---|---|---|---|")
for n in ("dpg_baseline", "reinforce_b", "rloo_b", "reinforce_b_kl"):
    f = f"{out}/{n}.eval.json"
    if not os.path.exists(f): continue
    d = json.load(open(f))
    print(f"| {n} | {d['alignment'][0]:.3f} ± {d['alignment_se'][0]:.3f} | {d['kl_p_pi_exact']:.3f} ± {d['kl_p_pi_exact_se']:.3f} | "
          f"{d['kl_pi_a']:.3f} ± {d['kl_pi_a_se']:.3f} | {d['distinct_2']:.3f} | {d['mean_length']:.1f} |")
PY
