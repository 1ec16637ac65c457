#!/usr/bin/env bash
# `posterior train` data parallel (docs/scaling.md): 2 ranks × 1 thread against 1 rank × 2
# threads, the same global batch, on random token ids over GPT-2's 50,257 tokens. Runs alternate
# A B B A; each run's tokens/s is the median over its updates after the first of metrics.jsonl's
# tokens_per_s (the global tokens over rank 0's update time, the gradient allreduce included).
# Prints each run and the ratio of means.
#   bash bench/bench_mpi_train.sh [BUILD]     (default BUILD=build)
# Environment: MODEL (tiny: 4 layers x 128, or small: GPT-2 small, 12 x 768 and 1024
# positions), BATCH (global sequences per micro-batch: 8), SEQ (256), GRAD_ACCUM (1: one
# allreduce per micro-batch; k: one per k micro-batches), STEPS (updates, 4).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/bench/mpi_ab.sh"
bin=$(mpi_ab_binary bench_mpi_train.sh "${1:-$root/build}")
case ${MODEL:=tiny} in
  tiny) shape=(--n-layer 4 --n-head 4 --n-embd 128 --n-positions 256) ;;
  small) shape=(--n-layer 12 --n-head 12 --n-embd 768 --n-positions 1024) ;;
  *) echo "bench_mpi_train.sh: MODEL is tiny or small, not '$MODEL'" >&2; exit 1 ;;
esac
T=$(mktemp -d /tmp/bench_mpi_train.XXXXXX)
trap 'rm -rf "$T"' EXIT
/usr/bin/python3 -c "import random; r = random.Random(1); print(' '.join(str(r.randrange(50257)) for _ in range(200000)))" \
    > "$T/ids.txt"
args=(train --data "$T/ids.txt" --tokenizer gpt2 "${shape[@]}" --vocab-size 50257 --batch "${BATCH:-8}"
      --seq "${SEQ:-256}" --grad-accum "${GRAD_ACCUM:-1}" --steps "${STEPS:-4}" --quiet --seed 1)
mpi_ab "$bin" "$T" tokens_per_s tok/s \
    "train $MODEL ${BATCH:-8} x ${SEQ:-256} x ${GRAD_ACCUM:-1} (model, batch x seq x grad-accum)" -- "${args[@]}"
