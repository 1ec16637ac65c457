#!/usr/bin/env bash
# RL throughput: our PPO (src/train/ppo.c) and REINFORCE (src/train/dpg.c) trainers
# (bench_rl) vs the same steps written in PyTorch (bench/rl_torch_bench.py), same GPT-2
# shapes, same thread count, same batch, each in its own process; prints the JSON lines
# and the ratio per method.
#   bash bench/bench_rl.sh [BUILD]          (default BUILD=build)
# Environment: OMP_NUM_THREADS (default: all cores), RL_CONFIG (tiny), RL_BATCH (16),
# RL_NEW_TOKENS (32), RL_STEPS (3), RL_EPOCHS (2), RL_MINIBATCH (8), RL_METHODS (ppo reinforce).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
cd "$root"
[ -x "$build/bench_rl" ] || { echo "bench_rl.sh: no $build/bench_rl (build first)" >&2; exit 1; }
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
for method in ${RL_METHODS:-ppo reinforce}; do
    args=(--method "$method" --config "${RL_CONFIG:-tiny}" --batch "${RL_BATCH:-16}"
          --new-tokens "${RL_NEW_TOKENS:-32}" --steps "${RL_STEPS:-3}" --epochs "${RL_EPOCHS:-2}"
          --minibatch "${RL_MINIBATCH:-8}")
    ours=$("$build/bench_rl" "${args[@]}")
    torch=$(/usr/bin/python3 bench/rl_torch_bench.py "${args[@]}" --threads "$OMP_NUM_THREADS" 2>/dev/null)
    echo "$ours"
    echo "$torch"
    /usr/bin/python3 - "$ours" "$torch" <<'PY'
import json, sys
o, t = json.loads(sys.argv[1]), json.loads(sys.argv[2])
print("%s %s, batch %d x %d new tokens (epochs %d, minibatch %d), %d threads: ours %.2f samples/s, "
      "PyTorch %.2f samples/s, ratio %.2fx"
      % (o["bench"], o["config"], o["batch"], o["new_tokens"], o["epochs"], o["minibatch"], o["threads"],
         o["samples_per_s"], t["samples_per_s"], o["samples_per_s"] / t["samples_per_s"]))
PY
done
