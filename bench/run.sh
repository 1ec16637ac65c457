#!/usr/bin/env bash
# `make bench`: bash bench/run.sh BUILD_DIR
#
# 1. the machine's ceilings (bench_ceilings): FMA peak GFLOP/s, memory read GB/s; read
#    again before the model measurements and after each (they move on a shared host)
# 2. SGEMM: OpenBLAS vs our AVX-512 kernels (without AVX-512F: our AVX2 ones) on GPT-2
#    small's products (bench_gemm)
# 3. GPT-2 training and sampling, ours (bench_prior) and PyTorch's
#    (bench/gpt2_torch_bench.py, same thread count), each run in its own process
#    so that its peak RSS is its own; one table with ratios (bench/report.py); and
#    sampling with bf16 weights against fp32 (batch 1 and 16)
# 4. every other bench/bench_*.sh (tokenizer, scorers, ...), given BUILD_DIR
#
# Environment: OMP_NUM_THREADS (default: all cores; PyTorch gets the same),
# BENCH_CONFIGS (default "tiny small"), BENCH_GEMM_ARGS (e.g. --quick),
# POSTERIOR_GEMM (auto|openblas|avx512|avx2).
# OPENBLAS_CORETYPE is left as it is; the OpenBLAS kernel family in use is printed.
# Results: BUILD_DIR/bench/results.jsonl and BUILD_DIR/bench/report.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$root/build}" && pwd)
cd "$root"
py=/usr/bin/python3
out=$build/bench
mkdir -p "$out"
results=$out/results.jsonl
: > "$results"
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$(nproc)}
configs=${BENCH_CONFIGS:-tiny small}

for b in bench_ceilings bench_gemm bench_prior; do
  [ -x "$build/$b" ] || { echo "bench/run.sh: $build/$b is missing (build first: make build)" >&2; exit 1; }
done

# the CPU as /proc/cpuinfo names it, with family and model (two "AMD EPYC" can be Zen 4
# and Zen 5, whose ceilings differ by 2x): one JSON line in the results, for the report
cpu="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), family $(grep -m1 'cpu family' \
  /proc/cpuinfo | cut -d: -f2 | tr -d ' ') model $(grep -m1 '^model[[:space:]]*:' /proc/cpuinfo | cut -d: -f2 | tr -d ' ')"
printf '{"machine": "%s, %s cores, OMP_NUM_THREADS=%s, OPENBLAS_CORETYPE=%s"}\n' "$cpu" "$(grep -c ^processor /proc/cpuinfo)" \
  "$OMP_NUM_THREADS" "${OPENBLAS_CORETYPE:-unset}" >> "$results"
echo "== machine: $cpu, $(grep -c ^processor /proc/cpuinfo) cores," \
     "OMP_NUM_THREADS=$OMP_NUM_THREADS, OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-unset}," \
     "POSTERIOR_GEMM=${POSTERIOR_GEMM:-auto}, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "== ceilings (bench_ceilings)"
"$build/bench_ceilings" --json | tee -a "$results"
echo
echo "== sgemm GFLOP/s (bench_gemm)"
"$build/bench_gemm" ${BENCH_GEMM_ARGS:-}
echo
echo "== sgemm GFLOP/s, decoding products with B read from memory (bench_gemm --cold)"
for shape in 1,2304,768,0,0 1,768,768,0,0 1,768,3072,0,0 4,3072,768,0,0 16,2304,768,0,0 1,50257,768,0,1 4,50257,768,0,1 \
             16,50257,128,0,1; do
  "$build/bench_gemm" --cold --shape "$shape" | tail -n 1
done
echo

run() { # command... ; appends its JSON line to results, its progress goes to out/log, then
  # the ceilings again (report.py sets each measurement against the readings around it)
  if ! "$@" >> "$results" 2>> "$out/log" || ! "$build/bench_ceilings" --json >> "$results"; then
    echo "bench/run.sh: failed: $* (see $out/log)" >&2
    return 1
  fi
}
: > "$out/log"
"$build/bench_ceilings" --json >> "$results" # the reading just before the first model measurement
status=0
for config in $configs; do
  echo "== GPT-2 $config: training (ours, then PyTorch) ..."
  run "$build/bench_prior" --config "$config" --mode train || status=1
  run "$py" bench/gpt2_torch_bench.py --config "$config" --mode train --threads "$OMP_NUM_THREADS" || status=1
  for batch in 1 4; do
    echo "== GPT-2 $config: sampling, batch $batch (ours, then PyTorch) ..."
    run "$build/bench_prior" --config "$config" --mode sample --batch "$batch" || status=1
    run "$py" bench/gpt2_torch_bench.py --config "$config" --mode sample --batch "$batch" \
        --threads "$OMP_NUM_THREADS" || status=1
  done
  # the bf16 sampling path against fp32, batch 1 and 16 (PyTorch has no counterpart here)
  echo "== GPT-2 $config: sampling with bf16 weights vs fp32, batch 1 and 16 ..."
  run "$build/bench_prior" --config "$config" --mode sample --batch 16 || status=1
  for batch in 1 16; do
    run "$build/bench_prior" --config "$config" --mode sample --batch "$batch" --weights bf16 || status=1
  done
done
echo
"$py" bench/report.py "$results" | tee "$out/report.md"
if [ "$OMP_NUM_THREADS" = 1 ]; then
  echo
  echo "== the same over CPU time (an estimate of a quiet machine when this one is shared)"
  "$py" bench/report.py --cpu "$results" | tee "$out/report_cpu.md"
fi

for script in bench/bench_*.sh; do
  [ -e "$script" ] || continue
  echo
  echo "== $script"
  bash "$script" "$build" || { echo "bench/run.sh: $script failed" >&2; status=1; }
done
exit $status
