/* OpenMP's defaults for a machine shared by several runs, for the CLI's commands that
 * compute (and the benchmarks, which run as they do).
 *
 * OMP_WAIT_POLICY=passive unless the caller set a wait policy or a spin count: an idle
 * OpenMP thread sleeps at once instead of spinning (libgomp: up to 300,000 times). Alone,
 * this costs a few percent on a DPG step (many short parallel regions per decoded
 * token); beside a second run on the same cores, the spinning teams take each other's
 * cores, and a run kept ~15% of its alone throughput, against ~60% passive
 * (docs/benchmarks.md, "Under load").
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
