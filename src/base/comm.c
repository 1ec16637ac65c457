/* The communicator of a data-parallel run: MPI_COMM_WORLD when the build has MPI
 * (POSTERIOR_HAVE_MPI) and the program initialised it, else one rank and no-ops
 * (include/posterior/comm.h). */
#include "posterior/comm.h"

#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#ifdef POSTERIOR_HAVE_MPI
#include <mpi.h>
#endif

int pst_comm_built(void) {
#ifdef POSTERIOR_HAVE_MPI
    return 1;
#else
    return 0;
#endif
}

#ifdef POSTERIOR_HAVE_MPI
static int mpi_active(void) {
    int init = 0, fin = 0;
    MPI_Initialized(&init);
    if (init) MPI_Finalized(&fin);
    return init && !fin;
}
#endif

pst_comm pst_comm_world(void) {
    pst_comm c = {0, 1, 0};
#ifdef POSTERIOR_HAVE_MPI
    if (mpi_active()) {
        MPI_Comm_rank(MPI_COMM_WORLD, &c.rank);
        MPI_Comm_size(MPI_COMM_WORLD, &c.size);
        c.mpi = 1;
    }
#endif
    return c;
}

/* The collective calls below run only with more than one rank. */
static int parallel(const pst_comm *c) { return c && c->mpi && c->size > 1; }

#ifdef POSTERIOR_HAVE_MPI
/* MPI counts are ints: n elements in chunks of at most 2^30. */
#define CHUNK ((size_t)1 << 30)

static int allreduce(const pst_comm *c, void *x, size_t n, size_t elem, MPI_Datatype type, pst_error *err) {
    for (size_t i = 0; i < n; i += CHUNK) {
        int k = (int)(n - i < CHUNK ? n - i : CHUNK);
        if (MPI_Allreduce(MPI_IN_PLACE, (char *)x + i * elem, k, type, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS)
            return pst_fail(err, "MPI_Allreduce of %zu values failed", n);
    }
    return 0;
}
#endif

int pst_comm_allreduce_sum_f32(const pst_comm *c, float *x, size_t n, pst_error *err) {
#ifdef POSTERIOR_HAVE_MPI
    if (parallel(c)) return allreduce(c, x, n, sizeof *x, MPI_FLOAT, err);
#endif
    return 0;
}

int pst_comm_allreduce_sum_f64(const pst_comm *c, double *x, size_t n, pst_error *err) {
#ifdef POSTERIOR_HAVE_MPI
    if (parallel(c)) return allreduce(c, x, n, sizeof *x, MPI_DOUBLE, err);
#endif
    return 0;
}

int pst_comm_allgather_f64(const pst_comm *c, double *x, size_t count, pst_error *err) {
#ifdef POSTERIOR_HAVE_MPI
    if (!parallel(c)) return 0;
    if (count > (size_t)INT_MAX) return pst_fail(err, "allgather of %zu values per rank: more than MPI's int count", count);
    if (MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, x, (int)count, MPI_DOUBLE, MPI_COMM_WORLD) != MPI_SUCCESS)
        return pst_fail(err, "MPI_Allgather of %zu values per rank failed", count);
#endif
    return 0;
}

int pst_comm_allgatherv_i32(const pst_comm *c, const int *mine, int n_mine, int *all, const int *counts,
                            pst_error *err) {
    if (!parallel(c)) {
        if (n_mine > 0 && all != mine) memmove(all, mine, sizeof(int) * (size_t)n_mine);
        return 0;
    }
#ifdef POSTERIOR_HAVE_MPI
    int *displ = pst_malloc(sizeof(int) * (size_t)c->size, err);
    if (!displ) return -1;
    long at = 0;
    for (int r = 0; r < c->size; r++) displ[r] = (int)at, at += counts[r];
    int rc = at > INT_MAX ? pst_fail(err, "allgather of %ld values: more than MPI's int count", at)
             : MPI_Allgatherv(mine, n_mine, MPI_INT, all, counts, displ, MPI_INT, MPI_COMM_WORLD) != MPI_SUCCESS
                 ? pst_fail(err, "MPI_Allgatherv of %ld values failed", at)
                 : 0;
    free(displ);
    return rc;
#endif
    return 0;
}

int pst_comm_broadcast(const pst_comm *c, void *buf, size_t bytes, int root, pst_error *err) {
#ifdef POSTERIOR_HAVE_MPI
    if (!parallel(c)) return 0;
    for (size_t i = 0; i < bytes; i += CHUNK) {
        int k = (int)(bytes - i < CHUNK ? bytes - i : CHUNK);
        if (MPI_Bcast((char *)buf + i, k, MPI_BYTE, root, MPI_COMM_WORLD) != MPI_SUCCESS)
            return pst_fail(err, "MPI_Bcast of %zu bytes failed", bytes);
    }
#endif
    return 0;
}

int pst_comm_barrier(const pst_comm *c, pst_error *err) {
#ifdef POSTERIOR_HAVE_MPI
    if (parallel(c) && MPI_Barrier(MPI_COMM_WORLD) != MPI_SUCCESS) return pst_fail(err, "MPI_Barrier failed");
#endif
    return 0;
}

int pst_comm_fail_all(const pst_comm *c, pst_error *err, const char *field, const char *fmt, ...) {
    if (!err) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    snprintf(err->field, sizeof err->field, "%s", field ? field : "");
    if (c && c->rank != 0) err->msg[0] = 0;
    return -1;
}

#ifdef POSTERIOR_HAVE_MPI
/* FNV-1a, 64 bits. */
static uint64_t hash_bytes(const void *p, size_t n) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) h = (h ^ ((const unsigned char *)p)[i]) * 0x100000001b3ull;
    return h;
}
#endif

int pst_comm_agree(const pst_comm *c, const void *bytes, size_t n, const char *what, pst_error *err) {
    if (!parallel(c)) return 0;
#ifdef POSTERIOR_HAVE_MPI
    uint64_t h = hash_bytes(bytes, n);
    uint64_t *all = pst_malloc((size_t)c->size * sizeof *all, err);
    if (!all) return -1; /* rank-local: main aborts the job */
    if (MPI_Allgather(&h, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD) != MPI_SUCCESS) {
        free(all);
        return pst_fail(err, "MPI_Allgather failed");
    }
    int differs = 0;
    for (int r = 1; r < c->size && !differs; r++)
        if (all[r] != all[0]) differs = r;
    free(all);
    if (differs)
        return pst_comm_fail_all(c, err, NULL, "the %d ranks were started with different %s: rank %d's differs from "
                                 "rank 0's (start every rank with the same command line)", c->size, what, differs);
#endif
    return 0;
}

int pst_comm_check(const pst_comm *c, int rc, pst_error *err) {
    if (!parallel(c)) return rc;
#ifdef POSTERIOR_HAVE_MPI
    int mine = rc ? c->rank : c->size, first = c->size;
    if (MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD) != MPI_SUCCESS)
        return pst_fail(err, "MPI_Allreduce failed");
    if (first == c->size) return 0;
    pst_error got = {{0}, {0}};
    if (c->rank == first && err) got = *err;
    if (MPI_Bcast(&got, (int)sizeof got, MPI_BYTE, first, MPI_COMM_WORLD) != MPI_SUCCESS)
        return pst_fail(err, "MPI_Bcast failed");
    if (!err) return -1;
    *err = got;
    if (c->rank != 0) err->msg[0] = 0;
    else if (first != 0) pst_fail_context(err, "rank %d", first);
#endif
    return -1;
}

int pst_comm_agree_args(const pst_comm *c, int argc, char **argv, pst_error *err) {
    if (!parallel(c)) return 0;
    size_t n = 0, at = 0;
    for (int i = 0; i < argc; i++) n += strlen(argv[i]) + 1;
    char *all = pst_malloc(n, err);
    if (!all) return -1;
    for (int i = 0; i < argc; i++) {
        size_t k = strlen(argv[i]) + 1;
        memcpy(all + at, argv[i], k);
        at += k;
    }
    int rc = pst_comm_agree(c, all, n, "options (command line)", err);
    free(all);
    return rc;
}
