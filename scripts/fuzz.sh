#!/usr/bin/env bash
# Runs the libFuzzer targets of tests/fuzz (built by `make fuzz` into BUILD).
#   scripts/fuzz.sh BUILD SECONDS [TARGET...]     (default: every fuzz_* in BUILD)
# For each target: first replays tests/fuzz/regressions/TARGET/* (every input a
# past finding; each must now pass), then fuzzes for SECONDS on one core,
# starting from tests/fuzz/corpus/TARGET, growing BUILD/fuzz-corpus/TARGET and
# saving any crash / hang / leak / OOM input under BUILD/fuzz-crashes/TARGET/.
# Prints libFuzzer's final line (executions, coverage) per target; exits 1 if
# any target found something. An input taking > 60 s counts as a hang (wall time:
# on a loaded machine a shorter limit reports slow scheduling, not slow code).
set -uo pipefail
# clang's libomp aborts at start on a registration file left empty in /dev/shm by a killed
# process with the same pid; this is libomp's switch for that check (CMakeLists.txt, tests).
export KMP_DUPLICATE_LIB_OK=TRUE
root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: fuzz.sh BUILD SECONDS [TARGET...]}
secs=${2:?usage: fuzz.sh BUILD SECONDS [TARGET...]}
shift 2
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for t in "$build"/fuzz_*; do [ -x "$t" ] && targets+=("$(basename "$t" | sed 's/^fuzz_//')"); done
fi
status=0
for t in "${targets[@]}"; do
  bin="$build/fuzz_$t"
  seeds="$root/tests/fuzz/corpus/$t" regs="$root/tests/fuzz/regressions/$t"
  work="$build/fuzz-corpus/$t" crashes="$build/fuzz-crashes/$t" log="$build/fuzz-logs/$t.log"
  mkdir -p "$work" "$crashes" "$(dirname "$log")"
  if [ -d "$regs" ] && [ -n "$(ls -A "$regs")" ]; then
    if ! "$bin" -timeout=60 "$regs"/* > "$log.regressions" 2>&1; then
      echo "fuzz $t: a regression input fails again (see $log.regressions)"; status=1; continue
    fi
  fi
  "$bin" -max_total_time="$secs" ${FUZZ_SEED:+-seed=$FUZZ_SEED} -timeout=60 -rss_limit_mb=2048 -print_final_stats=1 \
         -artifact_prefix="$crashes/" "$work" "$seeds" > "$log" 2>&1
  rc=$?
  stats=$(grep -E '^#[0-9]+\s.*cov: ' "$log" | tail -1 | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [^ ]+')
  execs=$(grep -E '^stat::number_of_executed_units' "$log" | awk '{print $2}')
  if [ $rc -ne 0 ]; then
    echo "fuzz $t: FINDING after ${execs:-?} executions, input in $crashes/ (log $log):"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -3
    status=1
  else
    echo "fuzz $t: ${execs:-?} executions in ${secs} s, no finding; $stats"
  fi
done
exit $status
