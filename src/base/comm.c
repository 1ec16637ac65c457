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

#ifdef POSTERIOR_HAVE_MPI
/* ---- the sum of large float vectors when every rank is on one node -------------------
 * Open MPI's MPI_Allreduce moves a gradient between the processes of one node at about
 * 0.35 GB/s on this machine (1.5 s for GPT-2 small's 498 MB: docs/scaling.md). Ranks that
 * share a node can instead sum in memory they all map (MPI_Win_allocate_shared): each
 * copies its x into its slot; after a barrier each rank sums its 1/N of the elements over
 * the slots in rank order (the same order, so the same sum, on every rank and in every
 * run) into slot 0; after a second barrier every rank copies the sum out. */
#define SHARED_MIN 65536 /* floats: below this, MPI_Allreduce's latency is the smaller cost */

static struct {
    int checked, one_node; /* the world is a single node (MPI_COMM_TYPE_SHARED) */
    MPI_Comm node;
    MPI_Win win;
    float **slot; /* [size]: each rank's n_cap floats in the shared window */
    size_t n_cap;
} shm;

static int shared_window(const pst_comm *c, size_t n, pst_error *err) {
    if (!shm.checked) {
        shm.checked = 1;
        int node_size = 0;
        if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &shm.node) != MPI_SUCCESS)
            return pst_fail(err, "MPI_Comm_split_type failed");
        MPI_Comm_size(shm.node, &node_size);
        shm.one_node = node_size == c->size;
    }
    if (!shm.one_node || n <= shm.n_cap) return 0;
    if (shm.slot) MPI_Win_unlock_all(shm.win), MPI_Win_free(&shm.win), free(shm.slot), shm.slot = NULL, shm.n_cap = 0;
    float *mine = NULL;
    if (MPI_Win_allocate_shared((MPI_Aint)(n * sizeof(float)), sizeof(float), MPI_INFO_NULL, shm.node, &mine,
                                &shm.win) != MPI_SUCCESS)
        return pst_fail(err, "MPI_Win_allocate_shared of %zu bytes failed", n * sizeof(float));
    MPI_Win_lock_all(MPI_MODE_NOCHECK, shm.win); /* one passive epoch for MPI_Win_sync, to the end */
    shm.slot = pst_malloc(sizeof(float *) * (size_t)c->size, err);
    if (!shm.slot) return -1;
    for (int r = 0; r < c->size; r++) {
        MPI_Aint bytes;
        int unit;
        MPI_Win_shared_query(shm.win, r, &bytes, &unit, &shm.slot[r]);
    }
    shm.n_cap = n;
    return 0;
}

static int barrier(pst_error *err) {
    return MPI_Barrier(shm.node) == MPI_SUCCESS ? 0 : pst_fail(err, "MPI_Barrier failed");
}

/* x[i] <- Σ_r x_r[i] through the shared window (capacity ≥ n, every rank on the node). */
static int shared_sum_f32(const pst_comm *c, float *x, size_t n, pst_error *err) {
    size_t lo = n * (size_t)c->rank / (size_t)c->size, hi = n * (size_t)(c->rank + 1) / (size_t)c->size;
    memcpy(shm.slot[c->rank], x, n * sizeof *x);
    MPI_Win_sync(shm.win);
    if (barrier(err)) return -1;
    MPI_Win_sync(shm.win);
    float *sum = shm.slot[0];
    for (int r = 1; r < c->size; r++) {
        const float *y = shm.slot[r];
        for (size_t i = lo; i < hi; i++) sum[i] += y[i];
    }
    MPI_Win_sync(shm.win);
    if (barrier(err)) return -1;
    MPI_Win_sync(shm.win);
    memcpy(x, sum, n * sizeof *x);
    return barrier(err); /* nobody writes its slot again before every rank has read the sum */
}
#endif

int pst_comm_allreduce_sum_f32(const pst_comm *c, float *x, size_t n, pst_error *err) {
#ifdef POSTERIOR_HAVE_MPI
    if (!parallel(c)) return 0;
    if (n >= SHARED_MIN) {
        if (shared_window(c, n, err)) return -1;
        if (shm.one_node) return shared_sum_f32(c, x, n, err);
    }
    return allreduce(c, x, n, sizeof *x, MPI_FLOAT, err);
#else
    (void)c, (void)x, (void)n, (void)err;
    return 0;
#endif
}

void pst_comm_release(void) {
#ifdef POSTERIOR_HAVE_MPI
    if (shm.slot) MPI_Win_unlock_all(shm.win), MPI_Win_free(&shm.win), free(shm.slot);
    if (shm.checked) MPI_Comm_free(&shm.node);
    memset(&shm, 0, sizeof shm);
#endif
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
