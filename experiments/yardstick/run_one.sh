#!/usr/bin/env bash
# One DPG configuration on the demo's target, measured with exact samples of p:
#   run_one.sh OUT_DIR [tune flags...]
# Env: P (binary, default build/posterior), DEMO (the demo's run folder, default runs/demo),
#      REF (reference set of exact samples of p; drawn once by run.sh), SEED (1).
# Writes OUT_DIR/{tune.log, eval.json} next to the tune run's own files. Resumable:
# a finished eval.json is kept.
set -euo pipefail
out=$1; shift
P=${P:-build/posterior}; demo=${DEMO:-runs/demo}; seed=${SEED:-1}
[ -f "$out/eval.json" ] && exit 0
mkdir -p "$out"
resume=(); [ -f "$out/checkpoints/latest" ] && resume=(--resume)
"$P" tune --method dpg --spec "$demo/target.json" --out "$out" --max-new-tokens 40 --seed "$seed" --quiet \
    "${resume[@]}" "$@" 2> "$out/tune.log"
"$P" eval --model "$out/model" --spec "$demo/target.json" --n 1000 --max-new-tokens 40 --show 3 --seed 7 \
    ${REF:+--reference "$REF"} > "$out/eval.json.tmp" 2>> "$out/tune.log"
mv "$out/eval.json.tmp" "$out/eval.json"
