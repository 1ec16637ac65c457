#!/usr/bin/env bash
# DPG throughput: our trainer (bench_dpg, src/train/dpg.c) vs the same on-policy DPG
# step written in PyTorch (bench/dpg_torch_bench.py), same GPT-2 shapes, same thread
# count, each in its own process; prints both JSON lines and the ratio; then ours again with
# bf16 sampling (--weights bf16: samples of q_bf16, log π from an fp32 scoring pass).
#   bash bench/bench_dpg.sh [BUILD]          (default BUILD=build)
# Environment: OMP_NUM_THREADS (default: all cores), DPG_CONFIG (tiny), DPG_BATCH (16),
# DPG_NEW_TOKENS (32), DPG_STEPS (10).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
cd "$root"
[ -x "$build/bench_dpg" ] || { echo "bench_dpg.sh: no $build/bench_dpg (build first)" >&2; exit 1; }
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
args=(--config "${DPG_CONFIG:-tiny}" --batch "${DPG_BATCH:-16}" --new-tokens "${DPG_NEW_TOKENS:-32}"
      --steps "${DPG_STEPS:-10}")
ours=$("$build/bench_dpg" "${args[@]}")
torch=$(/usr/bin/python3 bench/dpg_torch_bench.py "${args[@]}" --threads "$OMP_NUM_THREADS" 2>/dev/null)
half=$("$build/bench_dpg" "${args[@]}" --weights bf16)
echo "$ours"
echo "$torch"
echo "$half"
/usr/bin/python3 - "$ours" "$torch" "$half" <<'PY'
import json, sys
o, t, h = (json.loads(a) for a in sys.argv[1:4])
print("DPG %s, batch %d x %d new tokens, %d threads: ours %.2f samples/s, PyTorch %.2f samples/s, ratio %.2fx"
      % (o["config"], o["batch"], o["new_tokens"], o["threads"], o["samples_per_s"], t["samples_per_s"],
         o["samples_per_s"] / t["samples_per_s"]))
print("  with bf16 sampling: ours %.2f samples/s, ratio %.2fx (sampling %.4f s a step, fp32 %.4f s)"
      % (h["samples_per_s"], h["samples_per_s"] / t["samples_per_s"], h["step_s"]["sample"], o["step_s"]["sample"]))
PY
