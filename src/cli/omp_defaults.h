/* OpenMP's defaults for a machine shared by several runs, for the CLI's commands that
 * compute (and the benchmarks, which run as they do).
 *
 * OMP_WAIT_POLICY=passive and GOMP_SPINCOUNT=1000 unless the caller set a wait policy or a
 * spin count: an idle OpenMP thread spins briefly (libgomp: 1000 rounds of `pause`, ~27 us
 * on a Zen 3 core), then sleeps, instead of spinning up to 300,000 rounds (libgomp's
 * default) or sleeping at once (passive alone; clang's libomp, which has no spin count,
 * does that). Beside a second run on the same cores, spinning teams take each other's
 * cores: a DPG run kept ~15% of its alone throughput with libgomp's default; on Zen 3,
 * 38-50% with 3000 rounds and 47-55% with 1000, at the same speed alone (GPT-2 small's
 * batch-4 decoding ~2% slower). Sleeping at once costs a futex wake-up per parallel
 * region, ~13 us under KVM (an empty region after 20 us of serial work: 33 us passive,
 * 25 us with 1000 rounds, 21 with 3000) (docs/benchmarks.md, "Issue 21 (session 13)" and
 * "(session 25)").
 *
 * The thread count needs no default: libgomp (and OpenBLAS, which runs on its threads)
 * starts one thread per CPU of the process's affinity mask, so `taskset -c 0 posterior
 * ...` runs one (tests/cli/test_omp_defaults.sh checks both). */
#ifndef POSTERIOR_CLI_OMP_DEFAULTS_H
#define POSTERIOR_CLI_OMP_DEFAULTS_H

/* Sets the default and starts the program again with argv when neither OMP_WAIT_POLICY
 * nor GOMP_SPINCOUNT is set; returns otherwise, or when that cannot be done. Call it
 * first in main, before anything is written. */
void pst_cli_omp_defaults(char **argv);

#endif
