/* This machine's two ceilings, on all OpenMP threads:
 *   FMA peak  — each thread runs 12 independent chains of AVX-512 FMAs
 *               (acc_i = acc_i · x + y, 16 lanes, 2 FLOP per lane) in registers;
 *               GFLOP/s = threads · iterations · 12 · 16 · 2 / seconds.
 *   bandwidth — each thread sums its share of a 512 MiB array with 512-bit loads;
 *               GB/s = bytes read / seconds (best of several passes, half of them
 *               with a software prefetch 4 KB ahead into L2: the decoding kernels
 *               prefetch, and on a Xeon model 207 that reads ~10% faster than the
 *               hardware prefetcher alone, 25.4-27.1 against 23.3-23.9 GB/s).
 *
 *   bench_ceilings [--json]   (--json: one line {"fma_gflops": .., "read_gbs": ..})
 *
 * fma_gflops_cpu and read_gbs_cpu divide by CPU time instead of wall time: on a
 * machine shared with other jobs they estimate what the cores do while they run
 * this (bandwidth is still shared with the other jobs' memory traffic).
 *
 * Falls back to 8-lane AVX2 chains (and says so) on a CPU without AVX-512F. */
#include "base/gemm.h"
#include "posterior/base.h"

#include <immintrin.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define CHAINS PST_FMA_CHAINS

static double cpu_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

/* Best GFLOP/s over a few rounds of `iters` iterations per thread; *per_cpu gets the
 * same over CPU time (threads · flops / process CPU seconds), which on a shared
 * machine counts only the time the threads were on a core. */
static double fma_peak(int avx512, int *lanes, double *per_cpu) {
    *lanes = avx512 ? 16 : 8;
    const long iters = 50L * 1000 * 1000;
    double best = 0, best_cpu = 0, sink = 0;
    for (int round = 0; round < 5; round++) {
        int nthreads = 1;
        double t0 = 0, t1 = 0, c0 = cpu_now();
#pragma omp parallel reduction(+ : sink)
        {
#pragma omp single
            nthreads = omp_get_num_threads();
#pragma omp barrier
#pragma omp master
            t0 = pst_now();
            sink += avx512 ? pst_fma_chains_avx512(iters) : pst_fma_chains_avx2(iters);
#pragma omp barrier
#pragma omp master
            t1 = pst_now();
        }
        double flop = (double)nthreads * iters * CHAINS * (*lanes) * 2;
        double gflops = flop / (t1 - t0) / 1e9, gflops_cpu = flop / ((cpu_now() - c0) / nthreads) / 1e9;
        if (gflops > best) best = gflops;
        if (gflops_cpu > best_cpu) best_cpu = gflops_cpu;
    }
    *per_cpu = best_cpu;
    if (sink == 12345.678) printf(" "); /* never true; forces the result to be used */
    return best;
}

#define PREFETCH_AHEAD 1024 /* floats: 4 KB */

__attribute__((target("avx512f"))) static double sum_avx512(const float *x, size_t n, int prefetch) {
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i + 64 <= n; i += 64) {
        if (prefetch)
            for (int l = 0; l < 64; l += 16) _mm_prefetch((const char *)(x + i + PREFETCH_AHEAD + l), _MM_HINT_T1);
        s0 = _mm512_add_ps(s0, _mm512_load_ps(x + i));
        s1 = _mm512_add_ps(s1, _mm512_load_ps(x + i + 16));
        s2 = _mm512_add_ps(s2, _mm512_load_ps(x + i + 32));
        s3 = _mm512_add_ps(s3, _mm512_load_ps(x + i + 48));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

__attribute__((target("avx2"))) static double sum_avx2(const float *x, size_t n, int prefetch) {
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    for (size_t i = 0; i + 32 <= n; i += 32) {
        if (prefetch)
            for (int l = 0; l < 32; l += 16) _mm_prefetch((const char *)(x + i + PREFETCH_AHEAD + l), _MM_HINT_T1);
        s0 = _mm256_add_ps(s0, _mm256_load_ps(x + i));
        s1 = _mm256_add_ps(s1, _mm256_load_ps(x + i + 8));
        s2 = _mm256_add_ps(s2, _mm256_load_ps(x + i + 16));
        s3 = _mm256_add_ps(s3, _mm256_load_ps(x + i + 24));
    }
    float out[8];
    _mm256_storeu_ps(out, _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    return out[0] + out[3];
}

/* Best read bandwidth in GB/s over several passes of a 512 MiB array; -1 on OOM.
 * *per_cpu: the same over CPU time (bytes / (process CPU seconds / threads)). */
static double read_bandwidth(int avx512, double *per_cpu) {
    const size_t bytes = (size_t)512 << 20, n = bytes / sizeof(float);
    pst_error err;
    float *x = pst_large_alloc(bytes, &err); /* 2 MB pages where allowed, as the weights */
    if (!x) return -1;
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = 1.0f; /* first touch by the reading thread */
    double best = 0, best_cpu = 0, sink = 0;
    int nthreads = omp_get_max_threads();
    for (int pass = 0; pass < 8; pass++) { /* odd passes prefetch */
        double t0 = pst_now(), c0 = cpu_now();
#pragma omp parallel reduction(+ : sink)
        {
            int t = omp_get_thread_num(), nt = omp_get_num_threads();
            size_t chunk = (n / nt) & ~(size_t)63;
            size_t begin = (size_t)t * chunk, len = t == nt - 1 ? n - begin : chunk;
            sink += avx512 ? sum_avx512(x + begin, len, pass % 2) : sum_avx2(x + begin, len, pass % 2);
        }
        double gbs = bytes / (pst_now() - t0) / 1e9;
        double gbs_cpu = bytes / ((cpu_now() - c0) / nthreads) / 1e9;
        if (gbs > best) best = gbs;
        if (gbs_cpu > best_cpu) best_cpu = gbs_cpu;
    }
    *per_cpu = best_cpu;
    free(x);
    if (sink == 0.5) printf(" ");
    return best;
}

int main(int argc, char **argv) {
    int json = argc > 1 && strcmp(argv[1], "--json") == 0;
    if (argc > 1 && !json) {
        fprintf(stderr, "usage: bench_ceilings [--json] (unknown argument '%s')\n", argv[1]);
        return 2;
    }
    int avx512 = __builtin_cpu_supports("avx512f");
    int lanes;
    double peak_cpu;
    double peak = fma_peak(avx512, &lanes, &peak_cpu);
    double bw_cpu;
    double bw = read_bandwidth(avx512, &bw_cpu);
    if (bw < 0) {
        fprintf(stderr, "bench_ceilings: cannot allocate 512 MiB for the bandwidth test\n");
        return 1;
    }
    if (json)
        printf("{\"threads\": %d, \"isa\": \"%s\", \"fma_gflops\": %.1f, \"fma_gflops_cpu\": %.1f, "
               "\"read_gbs\": %.1f, \"read_gbs_cpu\": %.1f}\n",
               omp_get_max_threads(), avx512 ? "avx512" : "avx2", peak, peak_cpu, bw, bw_cpu);
    else {
        printf("threads                %d\n", omp_get_max_threads());
        printf("FMA peak (%s, %d chains x %d lanes)  %.1f GFLOP/s (%.1f per CPU-second of "
               "each thread)\n", avx512 ? "AVX-512" : "AVX2", CHAINS, lanes, peak, peak_cpu);
        printf("memory read bandwidth  %.1f GB/s (%.1f per CPU-second of each thread)\n", bw,
               bw_cpu);
    }
    return 0;
}
