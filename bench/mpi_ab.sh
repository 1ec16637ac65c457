# Sourced by bench/bench_mpi_train.sh and bench/bench_mpi_tune.sh: one posterior command run
# as 1 rank × 2 threads (A) and as 2 ranks × 1 thread (B), alternating A B B A, each run's
# rate the median over its metrics.jsonl lines after the first of KEY; prints each run, the
# means and the ratio B/A.
#   bin=$(mpi_ab_binary SCRIPT BUILD)             (BUILD/posterior, or exit with why not)
#   mpi_ab BIN TMP KEY UNIT LABEL -- ARGS...      (ARGS without --out)
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMPI_MCA_rmaps_base_oversubscribe=1

mpi_ab_binary() {
    local bin
    bin=$(cd "$2" 2>/dev/null && pwd)/posterior
    [ -x "$bin" ] && [ "$bin" != /posterior ] || { echo "$1: no $2/posterior (build first)" >&2; exit 1; }
    command -v mpirun >/dev/null || { echo "$1: no mpirun (openmpi-bin)" >&2; exit 1; }
    echo "$bin"
}

mpi_ab() {
    local bin=$1 tmp=$2 key=$3 unit=$4 label=$5 run rate
    shift 6
    local a=() b=()
    for run in A1 B1 B2 A2; do
        if [ "${run:0:1}" = A ]; then
            OMP_NUM_THREADS=2 "$bin" "$@" --out "$tmp/$run" >/dev/null 2>&1
        else
            mpirun -np 2 --bind-to none -x OMP_NUM_THREADS=1 "$bin" "$@" --out "$tmp/$run" >/dev/null 2>&1
        fi
        rate=$(/usr/bin/python3 -c "
import json, statistics, sys
r = [json.loads(l)[sys.argv[2]] for l in open(sys.argv[1])][1:]
print(f'{statistics.median(r):.2f}')" "$tmp/$run/metrics.jsonl" "$key")
        if [ "${run:0:1}" = A ]; then a+=("$rate"); else b+=("$rate"); fi
        rm -rf "${tmp:?}/$run"
    done
    /usr/bin/python3 - "${a[*]}" "${b[*]}" "$(cut -d' ' -f1-3 /proc/loadavg)" "$label" "$unit" <<'PY'
import sys
a, b = [float(x) for x in sys.argv[1].split()], [float(x) for x in sys.argv[2].split()]
ma, mb, u = sum(a) / len(a), sum(b) / len(b), sys.argv[5]
print(f"{sys.argv[4]}: 1 rank x 2 threads {a} {u} (mean {ma:.2f}); "
      f"2 ranks x 1 thread {b} {u} (mean {mb:.2f}); ratio 2x1 / 1x2 = {mb / ma:.2f} (load {sys.argv[3]})")
PY
}
