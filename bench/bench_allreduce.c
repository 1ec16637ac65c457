/* The cost of the one collective a data-parallel training step adds: the in-place sum
 * over ranks of a gradient buffer of N floats (pst_comm_allreduce_sum_f32,
 * include/posterior/comm.h), as posterior train makes it once per update:
 *
 *   mpirun -np 2 bench_allreduce [--floats N] [--reps R]
 *
 * N defaults to GPT-2 small's 124,439,808 parameters (124M floats, 498 MB). One untimed
 * warm-up call, then R timed calls (default 5), each after a barrier; prints one JSON line
 * (rank 0): ranks, floats, bytes, seconds (median per call), the bus bandwidth
 * 2(N_r − 1)/N_r · bytes / seconds (the ring-allreduce traffic per rank, as in NCCL's
 * busbw) and a check that every element holds the sum of the ranks' values (element i of
 * rank r is (r + 1)·(i mod 1000 + 1), so a sum from the wrong place or rank shows). Without
 * mpirun (or without MPI) it runs on one rank, where the call is a no-op. */
#include "posterior/comm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifdef POSTERIOR_HAVE_MPI
#include <mpi.h>
#endif

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    size_t n = 124439808;
    int reps = 5;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--floats") == 0) n = strtoull(argv[i + 1], NULL, 10);
        else if (strcmp(argv[i], "--reps") == 0) reps = atoi(argv[i + 1]);
    }
    if (n < 1 || reps < 1 || reps > 1000) {
        fprintf(stderr, "bench_allreduce: --floats N >= 1, --reps 1..1000\n");
        return 2;
    }
    pst_error err = {0};
#ifdef POSTERIOR_HAVE_MPI /* a program initialises MPI, not the library */
    int provided = 0;
    if (pst_env_mpi_size() > 0 && MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "bench_allreduce: MPI_Init_thread failed\n");
        return 1;
    }
#endif
    pst_comm c = pst_comm_world();
    float *x = pst_malloc(n * sizeof *x, &err);
    double *t = pst_malloc((size_t)reps * sizeof *t, &err);
    if (!x || !t) {
        fprintf(stderr, "bench_allreduce: %s\n", err.msg);
#ifdef POSTERIOR_HAVE_MPI
        if (c.size > 1) MPI_Abort(MPI_COMM_WORLD, 1);
#endif
        return 1;
    }
    int rc = 0;
    for (int r = -1; r < reps && rc == 0; r++) {
        for (size_t i = 0; i < n; i++) x[i] = (float)((c.rank + 1) * (i % 1000 + 1)); /* exact sums below */
        rc = pst_comm_barrier(&c, &err);
        double t0 = pst_now();
        rc = rc || pst_comm_allreduce_sum_f32(&c, x, n, &err);
        if (r >= 0) t[r] = pst_now() - t0;
    }
    size_t wrong = 0; /* element i: (i mod 1000 + 1) · size (size + 1) / 2, exact in float */
    for (size_t i = 0; i < n; i++) wrong += x[i] != (float)((i % 1000 + 1) * (size_t)c.size * (size_t)(c.size + 1) / 2);
    if (rc == 0 && c.rank == 0) {
        qsort(t, (size_t)reps, sizeof *t, cmp_double);
        double sec = t[reps / 2], bytes = (double)n * sizeof(float);
        double bus = c.size > 1 ? 2.0 * (c.size - 1) / c.size * bytes / sec : 0;
        printf("{\"ranks\": %d, \"floats\": %zu, \"bytes\": %.0f, \"reps\": %d, \"seconds\": %.6f, "
               "\"bus_gbit_per_s\": %.3f, \"sums_wrong\": %zu}\n", c.size, n, bytes, reps, sec, bus * 8 / 1e9, wrong);
    }
    if (rc) fprintf(stderr, "bench_allreduce: %s\n", err.msg);
    free(x), free(t);
#ifdef POSTERIOR_HAVE_MPI
    if (c.mpi) pst_comm_release(), MPI_Finalize();
#endif
    return rc || wrong ? 1 : 0;
}
