/* OpenMP's defaults for a machine shared by several runs (omp_defaults.h). */
#include "cli/omp_defaults.h"
#include "posterior/base.h"

#include <stdlib.h>
#include <unistd.h>

/* The OpenMP runtime reads OMP_* once, when it is loaded, before main. So the default
 * is set here and the program started again (same pid, same arguments): execv of
 * /proc/self/exe, once, ~20 ms. Where that fails the run goes on with the runtime's
 * own defaults. */
void pst_cli_omp_defaults(char **argv) {
    if (pst_env_omp_wait_chosen()) return;
    if (setenv("OMP_WAIT_POLICY", "passive", 1) != 0) return; /* unset or empty */
    if (setenv("GOMP_SPINCOUNT", "1000", 1) != 0) return;
    execv("/proc/self/exe", argv);
}
