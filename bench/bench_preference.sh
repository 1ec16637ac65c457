#!/usr/bin/env bash
# Preference training throughput: a reward-model (Bradley-Terry) step and a DPO step of ours
# (bench_preference: src/train/preference_gpt2.c) vs the same steps in PyTorch
# (bench/preference_torch_bench.py), same GPT-2 shape, same thread count, each in its own
# process; prints the JSON lines and the ratios.
#   bash bench/bench_preference.sh [BUILD]        (default BUILD=build)
# Environment: OMP_NUM_THREADS (default: all cores), PREF_CONFIG (tiny), PREF_PAIRS (8),
# PREF_PROMPT (16), PREF_RESPONSE (48), PREF_STEPS (10).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
cd "$root"
[ -x "$build/bench_preference" ] || { echo "bench_preference.sh: no $build/bench_preference (build first)" >&2; exit 1; }
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
args=(--config "${PREF_CONFIG:-tiny}" --pairs "${PREF_PAIRS:-8}" --prompt "${PREF_PROMPT:-16}"
      --response "${PREF_RESPONSE:-48}" --steps "${PREF_STEPS:-10}")
for mode in rm dpo; do
    ours=$("$build/bench_preference" --mode $mode "${args[@]}")
    torch=$(/usr/bin/python3 bench/preference_torch_bench.py --mode $mode "${args[@]}" --threads "$OMP_NUM_THREADS" 2>/dev/null)
    echo "$ours"
    echo "$torch"
    /usr/bin/python3 - "$ours" "$torch" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("%s %s, %d pairs x %d tokens, %d threads: ours %.2f steps/s, PyTorch %.2f steps/s, ratio %.2fx"
      % (o["mode"], o["config"], o["pairs"], o["seq"], o["threads"], o["steps_per_s"], t["steps_per_s"],
         o["steps_per_s"] / t["steps_per_s"]))
PY
done
