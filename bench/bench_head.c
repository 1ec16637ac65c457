/* The output layer with its log-softmax (prior/gpt2_internal.h: pst_fused_head_lse, the
 * AVX-512 kernel or the AVX2 one) on a random A [M, K] and wte [50257, K], as its three
 * callers run it:
 *
 *   bench_head [--rows M] [--k K] [--mode sample|score|train] [--reps R]
 *
 *   sample: the logits stored grouped and each row's chunk partials (decoding at
 *           temperature 1, src/prior/sample.c), no targets;
 *   score:  a target per row, its log-softmax's max, sum and picked logit, no logits
 *           stored (pst_gpt2_forward_logprobs: scoring under the prior);
 *   train:  the same, and the logits stored row-major for the backward (a training
 *           forward of at most 256 rows: DPG's gradient pass).
 * wte (206 MB at K = 1024) is read from memory each call, as in decoding: it does not fit
 * in the caches. R calls after one untimed; prints one JSON line with GFLOP/s (2·M·N·K
 * a call) of the median and of the fastest call. */
#include "base/gemm.h"
#include "cli/omp_defaults.h"
#include "posterior/base.h"
#include "prior/gpt2_internal.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    pst_cli_omp_defaults(argv); /* as the CLI runs */
    int M = 16, K = 128, reps = 50, N = 50257;
    const char *mode = "sample";
    for (int i = 1; i < argc; i += 2) { /* flag, value */
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int x = v ? atoi(v) : 0;
        if (strcmp(a, "--mode") == 0 && v && (!strcmp(v, "sample") || !strcmp(v, "score") || !strcmp(v, "train")))
            mode = v;
        else if (strcmp(a, "--rows") == 0 && x >= 1 && x <= 4096) M = x;
        else if (strcmp(a, "--k") == 0 && x >= 1 && x <= PST_GEMM_HEAD_MAX_K) K = x;
        else if (strcmp(a, "--reps") == 0 && x >= 1 && x <= 100000) reps = x;
        else {
            fprintf(stderr, "usage: bench_head [--rows M (1-4096)] [--k K (1-%d)] [--mode sample|score|train] "
                            "[--reps R] (bad argument '%s')\n", PST_GEMM_HEAD_MAX_K, a);
            return 2;
        }
    }
    if (!pst_fused_head_ok()) {
        fprintf(stderr, "bench_head: the output-layer kernel does not run here (no AVX2 + FMA, or "
                        "POSTERIOR_GEMM=openblas)\n");
        return 1;
    }
    int chunks = PST_GEMM_LSE_CHUNKS(N), sample = mode[1] == 'a', train = mode[0] == 't';
    size_t c_floats = sample ? (size_t)(M + 15) / 16 * 16 * PST_GEMM_GROUPED_N(N) : train ? (size_t)M * N : 1;
    pst_error err;
    float *A = pst_malloc(sizeof(float) * (size_t)M * K, &err), *B = pst_malloc(sizeof(float) * (size_t)N * K, &err);
    float *C = pst_aligned_alloc(sizeof(float) * c_floats, &err);
    float *part = pst_malloc(sizeof(float) * (size_t)M * (2 * chunks + 3), &err);
    int *targets = pst_malloc(sizeof(int) * (size_t)M, &err);
    double *t = pst_malloc(sizeof(double) * (size_t)reps, &err);
    if (!A || !B || !C || !part || !targets || !t) {
        fprintf(stderr, "bench_head: %s\n", err.msg);
        return 1;
    }
    pst_rng rng;
    pst_rng_seed(&rng, 1234);
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)pst_rng_normal(&rng);
    for (size_t i = 0; i < (size_t)N * K; i++) B[i] = 0.02f * (float)pst_rng_normal(&rng);
    for (int i = 0; i < M; i++) targets[i] = (int)(pst_rng_u64(&rng) % (uint64_t)N);
    float *cmax = part, *csum = cmax + (size_t)M * chunks, *rmax = csum + (size_t)M * chunks, *rsum = rmax + M,
          *picked = rsum + M;
    for (int r = -1; r < reps; r++) {
        double t0 = pst_now();
        int rc = sample ? pst_fused_head_lse(M, N, K, A, B, NULL, C, PST_GEMM_LOGITS_GROUPED, cmax, csum, NULL, NULL,
                                             NULL)
                        : pst_fused_head_lse(M, N, K, A, B, targets, train ? C : NULL, N, NULL, NULL, rmax, rsum,
                                             picked);
        if (rc < 0) {
            fprintf(stderr, "bench_head: the kernel failed (out of memory?)\n");
            return 1;
        }
        if (r >= 0) t[r] = pst_now() - t0;
    }
    qsort(t, reps, sizeof t[0], cmp_double);
    double flop = 2.0 * M * N * K;
    printf("{\"bench\": \"head\", \"mode\": \"%s\", \"rows\": %d, \"k\": %d, \"n\": %d, \"threads\": %d, \"reps\": %d, "
           "\"ms_median\": %.3f, \"gflops_median\": %.1f, \"gflops_best\": %.1f}\n",
           mode, M, K, N, omp_get_max_threads(), reps, t[reps / 2] * 1e3, flop / t[reps / 2] / 1e9,
           flop / t[0] / 1e9);
    free(A), free(B), free(C), free(part), free(targets), free(t);
    return 0;
}
