#!/usr/bin/env bash
# The experiment scripts' --quick modes run end to end (a smoke test: tiny budgets, a
# 20-step prior, so no number is checked beyond the tables being written with every method):
#   experiments/cdpg/run.sh --quick      (its own priors on SOTU and the stdlib, the three tasks)
#   experiments/rl_vs_dm/run.sh --quick  (on that prior; tasks a and c)
set -euo pipefail
# Under the sanitizers (make test-sanitize) the scripts' programs are each tested already and
# the end-to-end run would take several minutes of CI: skipped there (exit 77).
if grep -qs '^POSTERIOR_SANITIZE:BOOL=ON' "${POSTERIOR_BUILD:-build}/CMakeCache.txt"; then
  echo "skipped: a sanitizer build (the experiments' quick modes run in make test and make test-clang)"; exit 77
fi
BIN=${POSTERIOR_BIN:-build/posterior}
case $BIN in /*) ;; *) BIN=$PWD/$BIN ;; esac
T=$(mktemp -d /tmp/pst_experiments_XXXXXX)
trap 'rm -rf "$T"' EXIT
export OMP_NUM_THREADS=1 P=$BIN

experiments/cdpg/run.sh --quick "$T/cdpg" > "$T/cdpg.out" 2> "$T/cdpg.err" || { cat "$T/cdpg.err"; exit 1; }
for task in numbers entities code; do
  grep -q "## Task $task" "$T/cdpg/table.md" || { echo "FAIL: cdpg table has no task $task"; exit 1; }
  for m in prior cdpg shared_z reinforce_b ppo_kl; do
    grep -q "^| $m |" <(sed -n "/## Task $task/,/## Task/p" "$T/cdpg/table.md") ||
      [ -f "$T/cdpg/$task/${m}_s1.failed" ] || { echo "FAIL: cdpg $task: no row or failure for $m"; exit 1; }
  done
done

mkdir -p "$T/demo"
ln -s "$T/cdpg/prior" "$T/demo/prior"
"$BIN" target init --prior "$T/demo/prior/model" --out "$T/demo/target.json" 'length:1:1000' > /dev/null
CONSTRAINT='length:1:1000' TASKS="a c" experiments/rl_vs_dm/run.sh --quick "$T/demo" "$T/rl" > "$T/rl.out" 2> "$T/rl.err" ||
  { cat "$T/rl.err"; exit 1; }
for m in prior dpg_kl_adaptive gdc_pp fdpg_js reinforce_b reinforce_logp reinforce_b_kl rloo_b_kl ppo_b_adaptive; do
  grep -q "^| $m | 1 |" "$T/rl/table.md" || { echo "FAIL: rl_vs_dm table has no row $m"; cat "$T/rl/table.md"; exit 1; }
done
grep -q "## Task c_beta0.25" "$T/rl/table.md" || { echo "FAIL: rl_vs_dm: no KL-RL task"; exit 1; }
grep -q "^| ppo_fixed | 1 |" "$T/rl/table.md" || { echo "FAIL: rl_vs_dm: no PPO row on the KL-RL task"; exit 1; }
for t in a c_beta1; do # the curves: a polyline per method and per-step key it logged
  n=$(grep -c "<polyline" "$T/rl/$t.svg") || true
  [ "$n" -ge 8 ] || { echo "FAIL: rl_vs_dm: $t.svg has $n curves"; exit 1; }
done
echo "experiments' quick modes: tables written with every method"
