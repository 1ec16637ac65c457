/* Every environment variable the library reads, read here and nowhere else:
 *   POSTERIOR_DATA           the data folder (sotu/, nlp-corpus/, cuss/ ...): pst_data_dir
 *   POSTERIOR_PYTHON_STDLIB  the folder of the python-stdlib corpus: pst_env_python_stdlib
 *   POSTERIOR_GEMM           the matrix-product kernel to force: pst_env_gemm
 *   OMPI_COMM_WORLD_SIZE, PMI_SIZE, PMIX_RANK   set by an MPI launcher: pst_env_mpi_size
 *   OMP_WAIT_POLICY, GOMP_SPINCOUNT             how idle OpenMP threads wait: pst_env_omp_wait_chosen
 *   POSTERIOR_CACHE_DIR, XDG_CACHE_HOME, HOME   the per-machine cache folder: pst_env_cache_dir
 * An unset or empty variable reads as NULL. */
#include "posterior/base.h"

#include <stdlib.h>
#include <string.h>

/* The repository's data/ folder, compiled in by CMake. */
#ifndef POSTERIOR_DATA_DIR
#define POSTERIOR_DATA_DIR ""
#endif

static const char *env(const char *name) {
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

int pst_data_dir(char *buf, size_t cap, pst_error *err) {
    const char *d = env("POSTERIOR_DATA");
    if (!d) d = POSTERIOR_DATA_DIR;
    if (!*d) return pst_fail(err, "no data folder: set POSTERIOR_DATA to the folder holding sotu/, nlp-corpus/ ...");
    if (strlen(d) + 1 > cap) return pst_fail(err, "data folder path too long: %s", d);
    strcpy(buf, d);
    return 0;
}

const char *pst_env_python_stdlib(void) { return env("POSTERIOR_PYTHON_STDLIB"); }

const char *pst_env_gemm(void) { return env("POSTERIOR_GEMM"); }

int pst_env_mpi_size(void) {
    const char *n = env("OMPI_COMM_WORLD_SIZE");
    if (!n) n = env("PMI_SIZE");
    if (n) return atoi(n) > 0 ? atoi(n) : 1;
    return env("PMIX_RANK") ? 1 : 0;
}

int pst_env_omp_wait_chosen(void) { return env("OMP_WAIT_POLICY") || env("GOMP_SPINCOUNT"); }

int pst_env_cache_dir(char *buf, size_t cap) {
    const char *d = env("POSTERIOR_CACHE_DIR"), *xdg = env("XDG_CACHE_HOME"), *home = env("HOME");
    int n = d ? snprintf(buf, cap, "%s", d)
            : xdg ? snprintf(buf, cap, "%s/posterior", xdg)
            : home ? snprintf(buf, cap, "%s/.cache/posterior", home)
                   : -1;
    return n < 0 || (size_t)n >= cap ? -1 : 0;
}
