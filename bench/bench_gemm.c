/* OpenBLAS vs our packed AVX-512 SGEMM (on a CPU without AVX-512F: our AVX2 kernels, the
 * packed one and, for M <= 64, decoding's) on the products GPT-2 small training runs
 * (B·T = 1024 rows, C = 768, V = 50257), forward and backward (transposes), plus
 * what pst_sgemm's auto rule picks for each.
 *
 *   bench_gemm [--quick] [--cold] [--shape M,N,K,ta,tb]
 *
 * Prints one line per shape: GFLOP/s of each kernel (best of several runs), of ours
 * in the median run, and the choice of the auto rule. --quick skips the vocabulary-sized products.
 * --cold cycles through copies of B filling 256 MB, so that B comes from memory
 * as each weight does in decoding (a step reads every weight once); without it, a
 * B that fits in the caches stays there from one run to the next. */
#include "base/cpu.h"
#include "base/gemm.h"
#include "posterior/base.h"

#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    const char *name;
    int M, N, K, ta, tb;
} shape;

static const shape shapes[] = {
    {"qkv fwd      x·Wqkv", 1024, 2304, 768, 0, 0},
    {"fc fwd       x·Wfc", 1024, 3072, 768, 0, 0},
    {"fcproj fwd   h·Wproj", 1024, 768, 3072, 0, 0},
    {"attproj fwd  y·Wo", 1024, 768, 768, 0, 0},
    {"qkv dX       dY·W^T", 1024, 768, 2304, 0, 1},
    {"qkv dW       X^T·dY", 768, 2304, 1024, 1, 0},
    {"fc dX        dY·W^T", 1024, 768, 3072, 0, 1},
    {"fc dW        X^T·dY", 768, 3072, 1024, 1, 0},
    {"fcproj dX    dY·W^T", 1024, 3072, 768, 0, 1},
    {"fcproj dW    X^T·dY", 3072, 768, 1024, 1, 0},
    {"attn T=256   q·k^T", 256, 256, 64, 0, 1},
    {"lm_head fwd  x·wte^T", 1024, 50257, 768, 0, 1},
    {"lm_head dX   dL·wte", 1024, 768, 50257, 0, 0},
    {"lm_head dW   dL^T·x", 50257, 768, 1024, 1, 0},
    {"sample B=1   x·W", 1, 2304, 768, 0, 0},
    {"sample B=4   x·wte^T", 4, 50257, 768, 0, 1},
    {"sample B=16  x·W", 16, 2304, 768, 0, 0},
};

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* B holds n_b copies of the largest B, `stride` floats apart; each run takes the next.
 * Returns GFLOP/s of the best run, and of the median run into *median (the best run
 * can be much faster than a typical one when B comes from memory). */
#define MAX_RUNS 100000
static double time_kernel(pst_gemm_kernel k, const shape *s, const float *A, const float *B,
                          int n_b, size_t stride, float *C, double min_seconds, double *median) {
    static double times[MAX_RUNS];
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N;
    pst_sgemm_kernel(k, s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, B, ldb, 0.0f, C, s->N);
    double total = 0;
    int runs = 0;
    while ((total < min_seconds || runs < 3) && runs < MAX_RUNS) {
        const float *b = B + (size_t)(runs % n_b) * stride;
        double t0 = pst_now();
        pst_sgemm_kernel(k, s->ta, s->tb, s->M, s->N, s->K, 1.0f, A, lda, b, ldb, 0.0f, C, s->N);
        double dt = pst_now() - t0;
        times[runs++] = dt;
        total += dt;
    }
    qsort(times, runs, sizeof times[0], cmp_double);
    double flop = 2.0 * s->M * s->N * s->K;
    *median = flop / times[runs / 2] / 1e9;
    return flop / times[0] / 1e9;
}

int main(int argc, char **argv) {
    int quick = 0, cold = 0;
    shape custom = {"custom", 0, 0, 0, 0, 0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) quick = 1;
        else if (strcmp(argv[i], "--cold") == 0) cold = 1;
        else if (strcmp(argv[i], "--shape") == 0 && i + 1 < argc &&
                 sscanf(argv[++i], "%d,%d,%d,%d,%d", &custom.M, &custom.N, &custom.K, &custom.ta,
                        &custom.tb) == 5 && custom.M > 0 && custom.N > 0 && custom.K > 0) {
        } else {
            fprintf(stderr, "usage: bench_gemm [--quick] [--cold] [--shape M,N,K,ta,tb] (bad argument '%s')\n",
                    argv[i]);
            return 2;
        }
    }
    const shape *list = custom.M ? &custom : shapes;
    int n = custom.M ? 1 : (int)(sizeof shapes / sizeof shapes[0]);
    size_t maxa = 0, maxb = 0, maxc = 0;
    for (int i = 0; i < n; i++) {
        size_t a = (size_t)list[i].M * list[i].K, b = (size_t)list[i].K * list[i].N,
               c = (size_t)list[i].M * list[i].N;
        if (a > maxa) maxa = a;
        if (b > maxb) maxb = b;
        if (c > maxc) maxc = c;
    }
    size_t stride = (maxb + 15) & ~(size_t)15;
    int n_b = cold ? (int)(((size_t)256 << 20) / (stride * sizeof(float))) + 1 : 1;
    pst_error err;
    float *A = pst_aligned_alloc(maxa * sizeof(float), &err);
    float *B = pst_large_alloc(n_b * stride * sizeof(float), &err); /* 2 MB pages, as the weights */
    float *C = pst_aligned_alloc(maxc * sizeof(float), &err);
    if (!A || !B || !C) {
        fprintf(stderr, "bench_gemm: %s\n", err.msg);
        return 1;
    }
    pst_rng rng;
    pst_rng_seed(&rng, 1);
    for (size_t i = 0; i < maxa; i++) A[i] = (float)pst_rng_normal(&rng);
    for (size_t i = 0; i < n_b * stride; i++) B[i] = (float)pst_rng_normal(&rng);

    /* ours: the AVX-512 kernels, or on a CPU without AVX-512F the AVX2 ones */
    int avx = pst_gemm_avx512_available(), avx2 = !avx && pst_gemm_avx2_available();
    printf("# sgemm GFLOP/s, %d threads, OpenBLAS core %s, ours: %s, 512/256-bit FMA "
           "throughput %.2f, B %s\n",
           omp_get_max_threads(), pst_gemm_openblas_core(),
           avx ? "the AVX-512 kernels" : avx2 ? "the AVX2 kernels (no AVX-512F)" : "none (no AVX2)",
           pst_cpu_fma512_ratio(), cold ? "from memory (--cold)" : "warm in the caches");
    printf("%-22s %20s %9s %9s %7s %9s %9s  %s\n", "product", "M x N x K (ta,tb)", "openblas", "ours",
           "ratio", "(median)", "(ob med)", "auto picks");
    for (int i = 0; i < n; i++) {
        const shape *s = &list[i];
        if (quick && (s->M > 10000 || s->N > 10000 || s->K > 10000)) continue;
        double big = 2.0 * s->M * s->N * s->K > 1e10;
        double ob_med, ours_med = 0;
        double ob = time_kernel(PST_GEMM_OPENBLAS, s, A, B, n_b, stride, C, big ? 2.0 : 0.5, &ob_med);
        pst_gemm_kernel ours_k = avx ? PST_GEMM_AVX512 : avx2 && pst_gemm_choose(PST_GEMM_AVX2, s->ta, s->tb, s->M, s->N, s->K) == PST_GEMM_AVX2 ? PST_GEMM_AVX2 : 0;
        double ours = ours_k ? time_kernel(ours_k, s, A, B, n_b, stride, C, big ? 2.0 : 0.5, &ours_med) : 0;
        pst_gemm_kernel pick = pst_gemm_choose(PST_GEMM_AUTO, s->ta, s->tb, s->M, s->N, s->K);
        char dims[64];
        snprintf(dims, sizeof dims, "%dx%dx%d (%d,%d)", s->M, s->N, s->K, s->ta, s->tb);
        printf("%-22s %20s %9.1f %9.1f %7.2f %9.1f %9.1f  %s\n", s->name, dims, ob, ours, ours / ob, ours_med, ob_med,
               pick == PST_GEMM_AVX512 ? "avx512" : pick == PST_GEMM_AVX2 ? "avx2" : "openblas");
        fflush(stdout);
    }
    free(A);
    free(B);
    free(C);
    return 0;
}
