#!/usr/bin/env bash
# DPG throughput: our trainer (bench_dpg, src/train/dpg.c) vs the same on-policy DPG
# step written in PyTorch (bench/dpg_torch_bench.py), same GPT-2 shapes, same thread
# count, each in its own process; DPG_ROUNDS rounds (default 3), ours and PyTorch alternating
# (the host's speed drifts by up to 2x within minutes, so one measurement of each, minutes
# apart, can swing the ratio by as much), each round's JSON lines and ratio printed, and
# the ratio of the two medians; then ours with bf16 sampling (--weights bf16: samples of
# q_bf16, log π from an fp32 scoring pass) once.
#   bash bench/bench_dpg.sh [BUILD]          (default BUILD=build)
# Environment: OMP_NUM_THREADS (default: all cores), DPG_CONFIG (tiny), DPG_BATCH (16),
# DPG_NEW_TOKENS (32), DPG_STEPS (10), DPG_ROUNDS (3).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
cd "$root"
[ -x "$build/bench_dpg" ] || { echo "bench_dpg.sh: no $build/bench_dpg (build first)" >&2; exit 1; }
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
args=(--config "${DPG_CONFIG:-tiny}" --batch "${DPG_BATCH:-16}" --new-tokens "${DPG_NEW_TOKENS:-32}"
      --steps "${DPG_STEPS:-10}")
lines=()
for ((round = 0; round < ${DPG_ROUNDS:-3}; round++)); do
  lines+=("$("$build/bench_dpg" "${args[@]}")")
  lines+=("$(/usr/bin/python3 bench/dpg_torch_bench.py "${args[@]}" --threads "$OMP_NUM_THREADS" 2>/dev/null)")
  echo "${lines[-2]}"
  echo "${lines[-1]}"
done
half=$("$build/bench_dpg" "${args[@]}" --weights bf16)
echo "$half"
/usr/bin/python3 - "$half" "${lines[@]}" <<'PY'
import json, statistics, sys
h = json.loads(sys.argv[1])
runs = [json.loads(a) for a in sys.argv[2:]]
ours, torch = runs[0::2], runs[1::2]
for k, (o, t) in enumerate(zip(ours, torch)):
    print("  round %d: ours %.2f samples/s, PyTorch %.2f, ratio %.2fx"
          % (k + 1, o["samples_per_s"], t["samples_per_s"], o["samples_per_s"] / t["samples_per_s"]))
o, t = statistics.median(r["samples_per_s"] for r in ours), statistics.median(r["samples_per_s"] for r in torch)
c = ours[0]
print("DPG %s, batch %d x %d new tokens, %d threads, median of %d alternating rounds: ours %.2f samples/s, "
      "PyTorch %.2f samples/s, ratio %.2fx" % (c["config"], c["batch"], c["new_tokens"], c["threads"], len(ours), o, t, o / t))
print("  with bf16 sampling: ours %.2f samples/s, ratio %.2fx (sampling %.4f s a step, fp32 %.4f s)"
      % (h["samples_per_s"], h["samples_per_s"] / t, h["step_s"]["sample"],
         statistics.median(r["step_s"]["sample"] for r in ours)))
PY
