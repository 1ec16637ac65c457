#!/usr/bin/env bash
# DPG on the demo's target, measured with exact samples of p (docs/posterior.md, "DPG measured
# with exact samples"). After `make demo` (its prior and target in runs/demo):
#
#   experiments/yardstick/run.sh [OUT]        (default experiments/yardstick/out)
#
# 1. 2000 exact samples of p (rejection from the prior): the reference every model is
#    evaluated against (eval --reference; tune draws its own 512 for its decisions).
# 2. The configurations below, two at a time, one thread each (run_one.sh: tune, then eval
#    of the final policy on 1000 samples of it and the 2000 exact samples of p). Resumable:
#    finished runs are skipped, unfinished ones resume from their checkpoint.
# 3. OUT/results.md: one row per run.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${1:-$HERE/out}
export P=${P:-$ROOT/build/posterior} DEMO=${DEMO:-$ROOT/runs/demo} OMP_NUM_THREADS=1
mkdir -p "$OUT"
export REF=$OUT/reference.jsonl
[ -f "$REF" ] || "$P" target sample --spec "$DEMO/target.json" --sampler rs --n 2000 --max-new-tokens 40 \
    --seed 101 --out "$REF" > /dev/null
runs=(
  # name                 flags (every run: --max-new-tokens 40 --seed 1)
  "e1_demo_old           --variant kl-adaptive --steps 300 --batch 64 --lr 3e-4 --lr-min -1 --proposal-margin 0 --n-exact 0"
  "e2_fixed              --variant kl-adaptive --steps 300 --batch 64 --lr 3e-4 --lr-min -1 --proposal-margin inf --n-exact 0"
  "c1_ka_lr1e-4          --variant kl-adaptive --steps 300 --batch 64 --lr 1e-4 --lr-min -1"
  "c2_fixed_lr1e-4       --variant kl-adaptive --steps 300 --batch 64 --lr 1e-4 --lr-min -1 --proposal-margin inf"
  "d1_fixed_b128_cos     --variant kl-adaptive --steps 300 --batch 128 --lr 1e-4 --lr-min 1e-5 --proposal-margin inf"
  "d2_ka_b128_cos        --variant kl-adaptive --steps 300 --batch 128 --lr 1e-4 --lr-min 1e-5"
  "f1_fixed_b256_cos     --variant kl-adaptive --steps 300 --batch 256 --lr 1e-4 --lr-min 1e-5 --proposal-margin inf"
  "f2_ka_b256_cos        --variant kl-adaptive --steps 300 --batch 256 --lr 1e-4 --lr-min 1e-5"
  "g1_ka_b256_noclip     --variant kl-adaptive --steps 300 --batch 256 --lr 1e-4 --lr-min 1e-5 --grad-clip 0"
)
for ((i = 0; i < ${#runs[@]}; i += 2)); do
  for r in "${runs[@]:i:2}"; do
    read -r name flags <<<"$r"
    # shellcheck disable=SC2086
    "$HERE/run_one.sh" "$OUT/$name" $flags &
  done
  wait
done
python3 "$HERE/table.py" "$OUT"/*/ > "$OUT/results.md"
"$P" report "$OUT" --out "$OUT/report.html" --title "yardstick: DPG configurations on the demo's target" > /dev/null || echo "$0: posterior report failed" >&2
cat "$OUT/results.md"
