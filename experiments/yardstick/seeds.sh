#!/usr/bin/env bash
# KL-adaptive DPG (exact-sample swaps) against the same run with the proposal fixed at the
# prior, on the demo's target, for several seeds. Each seed needs a finished demo run:
#   DEMO_SEED=S DEMO_DIR=DIR bash scripts/demo.sh build      (the KL-adaptive run: DIR/dpg)
#   experiments/yardstick/seeds.sh DIR...                    (adds DIR/dpg_fixed, then the table)
# Both policies are evaluated like the demo's: 512 samples of the policy and the demo's 1000
# exact samples of p (DIR/reference.jsonl), --seed S.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
P=${P:-$ROOT/build/posterior}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
for d in "$@"; do
  seed=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['seed'])" "$d/dpg/run.json")
  if [ ! -f "$d/eval_dpg_fixed.json" ]; then
    resume=(); [ -e "$d/dpg_fixed/checkpoints/latest" ] && resume=(--resume)
    "$P" tune --method dpg --variant kl-adaptive --proposal-margin inf --spec "$d/target.json" --out "$d/dpg_fixed" \
        --steps 300 --batch 256 --lr 1e-4 --lr-min 1e-5 --max-new-tokens 40 --seed "$seed" --quiet "${resume[@]}"
    "$P" eval --model "$d/dpg_fixed/model" --spec "$d/target.json" --n 512 --max-new-tokens 40 \
        --reference "$d/reference.jsonl" --show 4 --seed "$seed" > "$d/eval_dpg_fixed.json.tmp"
    mv "$d/eval_dpg_fixed.json.tmp" "$d/eval_dpg_fixed.json"
  fi
done
python3 - "$@" <<'PY'
import json, sys
print("| seed | prior: KL(p‖a) exact | KL-adaptive: E_π[b] | KL-adaptive: KL(p‖π) exact | q = a fixed: E_π[b] | q = a fixed: KL(p‖π) exact | difference (adaptive − fixed) |")
print("|---|---|---|---|---|---|---|")
for d in sys.argv[1:]:
    a, k, f = (json.load(open(f"{d}/{n}.json")) for n in ("eval_prior", "eval_dpg", "eval_dpg_fixed"))
    seed = json.load(open(f"{d}/dpg/run.json"))["seed"]
    e = lambda x, key: f"{x[key] if not isinstance(x[key], list) else x[key][0]:.3f} ± {x[key + '_se'] if not isinstance(x[key + '_se'], list) else x[key + '_se'][0]:.3f}"
    diff = k["kl_p_pi_exact"] - f["kl_p_pi_exact"]
    print(f"| {seed} | {e(a, 'kl_p_pi_exact')} | {e(k, 'alignment')} | {e(k, 'kl_p_pi_exact')} | {e(f, 'alignment')} | {e(f, 'kl_p_pi_exact')} | {diff:+.3f} |")
PY
