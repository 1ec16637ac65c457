#!/usr/bin/env bash
# DPG throughput: our trainer (bench_dpg, src/train/dpg.c) vs the same on-policy DPG
# step written in PyTorch (bench/dpg_torch_bench.py), same GPT-2 shapes, same thread
# count, each in its own process; prints both JSON lines and the ratio.
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
echo "$ours"
echo "$torch"
/usr/bin/python3 - "$ours" "$torch" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("DPG %s, batch %d x %d new tokens, %d threads: ours %.2f samples/s, PyTorch %.2f samples/s, ratio %.2fx"
      % (o["config"], o["batch"], o["new_tokens"], o["threads"], o["samples_per_s"], t["samples_per_s"],
         o["samples_per_s"] / t["samples_per_s"]))
PY
