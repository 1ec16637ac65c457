/* posterior — base layer: the communicator of a data-parallel run (MPI, optional).
 *
 * A run started under mpirun on N processes ("ranks") has a communicator of size N; every
 * rank runs the same loop on its share of the global batch and the ranks meet in a few
 * collective calls (sums of gradients and statistics, a broadcast, a barrier). A build
 * without MPI (POSTERIOR_MPI=OFF), or a program not started by a launcher, has the
 * communicator of one rank: size 1, rank 0, and every call below is a no-op returning 0.
 * A NULL communicator is the same single rank.
 *
 * The library never initialises, finalises or aborts MPI: a program (the posterior CLI's
 * main) calls MPI_Init_thread (MPI_THREAD_FUNNELED) when a launcher started it
 * (pst_env_mpi_size > 0), MPI_Abort after a failure on a rank of several, MPI_Finalize at
 * the end; the library only uses what pst_comm_world gives. Collective calls must be made by every rank in the
 * same order; MPI's own errors abort the whole job (MPI_ERRORS_ARE_FATAL), so a failed
 * collective never hangs. Calls come from the main thread only (MPI_THREAD_FUNNELED:
 * OpenMP threads inside a rank never call them). */
#ifndef POSTERIOR_COMM_H
#define POSTERIOR_COMM_H

#include "posterior/base.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct pst_comm {
    int rank, size;
    int mpi; /* 1: MPI_COMM_WORLD of an initialised MPI; 0: one rank, no MPI */
} pst_comm;

/* 1 when this build has MPI (POSTERIOR_MPI). */
int pst_comm_built(void);
/* The world: every rank of an MPI job that the program initialised (and has not
 * finalised), or the single rank {0, 1}. */
pst_comm pst_comm_world(void);

/* x[i] <- Σ_ranks x[i], in place, every rank gets the sum (MPI_Allreduce, MPI_SUM). The
 * order in which the ranks' values are added is MPI's: the sum is the same on every rank,
 * but may differ in the last bits from a sum in another order. The f32 sum of a large
 * vector (≥ 65,536 floats) when every rank is on one node goes through memory the ranks
 * share instead (MPI_Win_allocate_shared, kept for the next call: pst_comm_release), added
 * in rank order. */
int pst_comm_allreduce_sum_f32(const pst_comm *c, float *x, size_t n, pst_error *err);
int pst_comm_allreduce_sum_f64(const pst_comm *c, double *x, size_t n, pst_error *err);
/* In place: rank r's block x[r·count, (r+1)·count) copied to every rank, so that every
 * rank holds all size·count values (MPI_Allgather; e.g. the per-sample statistics of a
 * batch whose rows are split over the ranks). Exact: values are copied, not added. */
int pst_comm_allgather_f64(const pst_comm *c, double *x, size_t count, pst_error *err);
/* mine[n_mine] of every rank concatenated in rank order into all[Σ counts], counts[size]
 * the ranks' n_mine (known to every rank; MPI_Allgatherv). */
int pst_comm_allgatherv_i32(const pst_comm *c, const int *mine, int n_mine, int *all, const int *counts,
                            pst_error *err);
/* buf[bytes] of rank root copied to every rank. */
int pst_comm_broadcast(const pst_comm *c, void *buf, size_t bytes, int root, pst_error *err);
int pst_comm_barrier(const pst_comm *c, pst_error *err);

/* Every rank passes its own bytes[n] (e.g. the run's configuration as text); returns 0
 * when every rank's bytes hash (FNV-1a, 64 bits) to rank 0's, else -1 on every rank, the
 * error on rank 0 naming what and the first rank that differs ("the ranks were started
 * with different <what>: rank 1's differs from rank 0's") and an empty message on the
 * other ranks (rank 0 alone reports an error that every rank found). */
int pst_comm_agree(const pst_comm *c, const void *bytes, size_t n, const char *what, pst_error *err);

/* pst_comm_agree on a command line's arguments argv[0, argc) (each with its NUL). */
int pst_comm_agree_args(const pst_comm *c, int argc, char **argv, pst_error *err);

/* Frees what the collectives keep between calls (the shared window); a program calls it
 * on every rank before MPI_Finalize. Collective. */
void pst_comm_release(void);

/* A failure found on every rank alike (the same check on the same agreed values):
 * pst_fail's message on rank 0, an empty one elsewhere, so that it is printed once.
 * Returns -1. */
int pst_comm_fail_all(const pst_comm *c, pst_error *err, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* After a phase that every rank runs (setup, resume, a checkpoint), with rc its result on
 * this rank (0 or -1, err filled): 0 on every rank when every rc is 0; else -1 on every
 * rank, with the message of the lowest failed rank on rank 0 (prefixed "rank K: " when
 * K > 0) and an empty one elsewhere, so that it is printed once. Collective. */
int pst_comm_check(const pst_comm *c, int rc, pst_error *err);

#ifdef __cplusplus
}
#endif

#endif
