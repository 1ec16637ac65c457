#!/usr/bin/env bash
# `posterior tune --method dpg --variant kl-adaptive` data parallel (docs/scaling.md): 2 ranks ×
# 1 thread against 1 rank × 2 threads, the same global batch, on GPT-2 tiny's shape (4 layers,
# 128 wide, 256 positions, GPT-2's 50,257 tokens; a random model, so the samples are random
# tokens), target a(x)·[x contains "e"]. Runs alternate A B B A; each run's samples/s is the
# median over its steps after the first of metrics.jsonl's samples_per_s (the global batch over
# rank 0's step time, the gradient allreduce included). Prints each run and the ratio of means.
#   bash bench/bench_mpi_tune.sh [BUILD]     (default BUILD=build)
# Environment: TUNE_BATCH (32), TUNE_NEW_TOKENS (32), TUNE_STEPS (6).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/mpi_ab.sh"
bin=$(mpi_ab_binary bench_mpi_tune.sh "${1:-$root/build}")
T=$(mktemp -d /tmp/bench_mpi_tune.XXXXXX)
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 -c "import random; r = random.Random(1); print(' '.join(str(r.randrange(50257)) for _ in range(4000)))" \
    > "$T/ids.txt"
OMP_NUM_THREADS=2 "$bin" train --data "$T/ids.txt" --tokenizer gpt2 --n-layer 4 --n-head 4 --n-embd 128 \
    --n-positions 256 --vocab-size 50257 --steps 1 --batch 2 --seq 32 --quiet --out "$T/prior" >/dev/null
"$bin" target init --prior "$T/prior/model" --out "$T/t.json" 'regex:e' >/dev/null
args=(tune --method dpg --variant kl-adaptive --spec "$T/t.json" --batch "${TUNE_BATCH:-32}"
      --max-new-tokens "${TUNE_NEW_TOKENS:-32}" --steps "${TUNE_STEPS:-6}" --n-exact 0 --micro-batch 16
      --checkpoint-every 1000 --quiet --seed 1)
mpi_ab "$bin" "$T" samples_per_s samples/s "tune kl-adaptive, GPT-2 tiny shape" -- "${args[@]}"
