/* bf16 weight products for sampling (prior/bf16_kernels.h), chosen per call: base's
 * AVX-512 kernels on bf16 (base/gemm.h); on a CPU with AVX2 + FMA but not AVX-512, base's
 * AVX2 thin kernel on bf16 (1-8 rows) and the loops here compiled for AVX2 (more rows);
 * else the plain x86-64 loops (the default build assumes only x86-64). The rounding to
 * bf16 in the same three variants. */
#include "prior/bf16_kernels.h"

#include <omp.h>
#include <stdlib.h>

#include "base/cpu.h"
#include "base/gemm.h"

#define BF16_ROWS 8    /* rows of A per pass over W */
#define BF16_ACC 4096  /* accumulator floats (16 KB, in L1) */
#define BF16_NT_MAX_C 2048 /* widest rows of pst_matmul_nt_bf16 (8 widened: 64 KB) */

uint16_t pst_bf16_round(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return pst_bf16_round_bits(u);
}

#define KERNEL(name) name##_default
#define KERNEL_TARGET
#define KERNEL_PRODUCTS 1
#include "prior/bf16_kernels_body.h"
#undef KERNEL
#undef KERNEL_TARGET
#undef KERNEL_PRODUCTS

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define PST_BF16_DISPATCH 1
#define KERNEL(name) name##_avx512
#define KERNEL_TARGET __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))
#define KERNEL_PRODUCTS 0
#include "prior/bf16_kernels_body.h"
#undef KERNEL
#undef KERNEL_TARGET
#undef KERNEL_PRODUCTS
/* the plain loops compiled for AVX2 + FMA: the products of 9-64 rows there */
#define KERNEL(name) name##_avx2
#define KERNEL_TARGET __attribute__((target("avx2,fma")))
#define KERNEL_PRODUCTS 1
#include "prior/bf16_kernels_body.h"
#undef KERNEL
#undef KERNEL_TARGET
#undef KERNEL_PRODUCTS
#endif

static int forced = -1;
void pst_bf16_kernels_force(int level) { forced = level; }

/* The variant to run: 2 AVX-512 (base's kernels on bf16), 1 AVX2 + FMA (base's AVX2 thin
 * kernel on bf16, the loops here compiled for AVX2), 0 plain: the best this CPU has, or
 * at most the level a test asked for. */
static int level(void) {
#ifdef PST_BF16_DISPATCH
    static int has = -1;
    if (has < 0) has = pst_cpu_has_avx512_dq_bw_vl() ? 2 : pst_cpu_has_avx2_fma() ? 1 : 0;
    return forced >= 0 && forced < has ? forced : has;
#else
    return 0;
#endif
}

/* 1: base's AVX-512 kernels on bf16 (base/gemm.h) may run, as the AVX-512 variant here */
static int base_kernels(void) { return level() == 2 && pst_gemm_avx512_available(); }

/* 1: base's AVX2 kernels on bf16 (also where the CPU has AVX-512 but base's AVX-512
 * kernels are not in use) */
static int base_avx2(void) { return level() >= 1 && !base_kernels() && pst_gemm_avx2_available(); }

/* threads for a product reading `bytes` of weights: one inside a parallel region or for
 * a small one (waking threads would cost more) */
static int threads_for(double bytes) {
    return omp_in_parallel() || bytes < 1e6 ? 1 : omp_get_max_threads();
}

static void round_run(uint16_t *dst, const float *src, size_t n) {
#ifdef PST_BF16_DISPATCH
    if (level() == 2) {
        round_run_avx512(dst, src, n);
        return;
    }
    if (level() == 1) {
        round_run_avx2(dst, src, n);
        return;
    }
#endif
    round_run_default(dst, src, n);
}

/* the plain loops' products, compiled for AVX2 where that runs */
static void nn_rows_any(int M, int j0, int j1, int K, const float *A, const uint16_t *W, int N, const float *b,
                        float *out, int accumulate) {
#ifdef PST_BF16_DISPATCH
    if (level() >= 1) {
        nn_rows_avx2(M, j0, j1, K, A, W, N, b, out, accumulate);
        return;
    }
#endif
    nn_rows_default(M, j0, j1, K, A, W, N, b, out, accumulate);
}

static void nt_rows_any(int v0, int v1, const float *x, const uint16_t *W, int N, int C, int V, float *out) {
#ifdef PST_BF16_DISPATCH
    if (level() >= 1) {
        nt_rows_avx2(v0, v1, x, W, N, C, V, out);
        return;
    }
#endif
    nt_rows_default(v0, v1, x, W, N, C, V, out);
}

void pst_bf16_round_array(uint16_t *dst, const float *src, size_t n) {
    size_t chunk = (size_t)1 << 16, chunks = (n + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) num_threads(threads_for(6.0 * n))
    for (size_t c = 0; c < chunks; c++) {
        size_t i0 = c * chunk, m = n - i0 < chunk ? n - i0 : chunk;
        round_run(dst + i0, src + i0, m);
    }
}

/* A decoding batch: base's thin (1-8 rows) or small-product (9-64) kernel on bf16
 * (base/gemm.h: AVX-512, or AVX2 + FMA), which widen W as they read it, then the bias.
 * 1 when done, 0 when the kernels are not there. */
static int linear_base_bf16(float *out, const float *inp, const uint16_t *W, const float *b, int N, int IC, int OC,
                            int accumulate) {
    float beta = accumulate ? 1.0f : 0.0f;
    int rc = N > PST_GEMM_SMALL_MAX ? -1
             : base_avx2()             ? pst_sgemm_avx2_thin_bf16(0, N, OC, IC, inp, IC, W, OC, beta, out, OC)
             : !base_kernels()         ? -1
             : N <= PST_GEMM_THIN_MAX  ? pst_sgemm_avx512_thin_bf16(0, N, OC, IC, inp, IC, W, OC, beta, out, OC)
                                       : pst_sgemm_avx512_small_bf16(N, OC, IC, inp, IC, W, OC, beta, out, OC);
    if (rc != 0) return 0;
    for (int i = 0; i < N; i++) {
        float *o = out + (size_t)i * OC;
#pragma omp simd
        for (int j = 0; j < OC; j++) o[j] += b[j];
    }
    return 1;
}

void pst_linear_forward_bf16(float *out, const float *inp, const uint16_t *W, const float *b, int N,
                             int IC, int OC, int accumulate) {
    if (N <= 0 || OC <= 0 || linear_base_bf16(out, inp, W, b, N, IC, OC, accumulate)) return;
#pragma omp parallel num_threads(threads_for(2.0 * IC * OC))
    {
        /* one contiguous range of columns (a multiple of 16) per thread */
        int team = omp_get_num_threads(), per = (OC + team - 1) / team;
        per = (per + 15) / 16 * 16;
        int j0 = omp_get_thread_num() * per, j1 = j0 + per < OC ? j0 + per : OC;
        for (int i0 = 0; i0 < N && j0 < j1; i0 += BF16_ROWS) {
            int mi = N - i0 < BF16_ROWS ? N - i0 : BF16_ROWS;
            nn_rows_any(mi, j0, j1, IC, inp + (size_t)i0 * IC, W, OC, b, out + (size_t)i0 * OC, accumulate);
        }
    }
}

/* A decoding batch's output layer (N >= BF16_NT_HEAD_ROWS rows of x, C <= 1024) goes to
 * base's output-layer kernel on bf16 (base/gemm.h), which widens each tile of 16 rows of W
 * into L1 just before 16 rows of x meet it per broadcast, and ends each 16×16 tile in one
 * transpose, where nt_rows ends each of its N·8 dot products in a horizontal sum. (It used
 * to widen 256 rows of W at a time into L2 first and run the fp32 kernel there: the tiny
 * model at batch 16 sampled at 0.73× the fp32 path's speed.) */
#define BF16_NT_HEAD_ROWS 8

int pst_matmul_nt_bf16_chunks(float *out, int ldo, const float *x, const uint16_t *W, int N, int C, int V,
                              float *chunk_max, float *chunk_sum) {
    if (N < BF16_NT_HEAD_ROWS || C > PST_GEMM_HEAD_MAX_K || V < 1) return -1;
    if (base_kernels() && pst_sgemm_avx512_nt_head_bf16(N, V, C, x, C, W, C, out, ldo, chunk_max, chunk_sum) == 0)
        return 0;
    if (base_avx2() && pst_sgemm_avx2_nt_head_bf16(N, V, C, x, C, W, C, out, ldo, chunk_max, chunk_sum) == 0)
        return 0;
    return -1;
}

int pst_matmul_nt_bf16(float *out, const float *x, const uint16_t *W, int N, int C, int V) {
    if (C > BF16_NT_MAX_C) return -1;
    if (N <= 0 || V <= 0) return 0;
    if (N <= PST_GEMM_THIN_MAX && base_kernels() && pst_sgemm_avx512_thin_bf16(1, N, V, C, x, C, W, C, 0.0f, out, V) == 0)
        return 0;
    if (N <= PST_GEMM_THIN_MAX && base_avx2() && pst_sgemm_avx2_thin_bf16(1, N, V, C, x, C, W, C, 0.0f, out, V) == 0)
        return 0;
    if (pst_matmul_nt_bf16_chunks(out, V, x, W, N, C, V, NULL, NULL) == 0) return 0;
    int chunks = (V + 255) / 256;
#pragma omp parallel for schedule(static) num_threads(threads_for(2.0 * V * C))
    for (int t = 0; t < chunks; t++) {
        int v0 = t * 256, v1 = v0 + 256 < V ? v0 + 256 : V;
        nt_rows_any(v0, v1, x, W, N, C, V, out);
    }
    return 0;
}
