/* A packed AVX-512 SGEMM (row-major), GotoBLAS / BLIS style:
 *
 *   C[M,N] = alpha · op(A)[M,K] · op(B)[K,N] + beta · C
 *
 *   for each column block jc of NC columns:
 *     for each depth block pc of KC:
 *       pack op(B)[pc, jc]         into column panels of NR cols, k-major: Bp[k][NR]
 *       for each row block ic of MC rows:
 *         pack op(A)[ic, pc]       into row panels of MR rows, k-major: Ap[k][MR]
 *         for each task (MB row panels × a group of column panels), in parallel:
 *           for each MR panel (kept in L1), for each NR panel (streamed from L2):
 *             micro-kernel: acc[MR][NR] = Σ_k Ap[k][i] · Bp[k][j]  (28 zmm accumulators)
 *             C tile = alpha·acc + beta'·C tile  (beta' = beta on the first pc, else 1)
 *
 * The micro-kernel keeps a 14×32 tile of C in 28 of the 32 zmm registers; per k it
 * loads two 16-float vectors of B and broadcasts 14 values of A into 28 FMAs.
 * Packing absorbs the four transpose combinations and zero-pads the edges; tile
 * edges are written with masked loads / stores. Packing buffers are allocated per
 * call (no global state); threads come from OpenMP (one thread when called from
 * inside a parallel region).
 *
 * Compiled for AVX-512F by target pragma, so the build needs no -march=native;
 * base/gemm.c only calls it after __builtin_cpu_supports("avx512f").
 */
#include "base/gemm.h"
#include "posterior/base.h"

#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define PST_HAVE_AVX512_KERNEL 1
#endif

#ifdef PST_HAVE_AVX512_KERNEL

#pragma GCC push_options
#pragma GCC target("avx512f,fma,avx2")
#include <immintrin.h>
#include <omp.h>

#ifndef PST_GEMM_KC
#define PST_GEMM_KC 384
#endif
#ifndef PST_GEMM_MB
#define PST_GEMM_MB 8
#endif
#ifndef PST_GEMM_NG
#define PST_GEMM_NG 16
#endif
#ifndef PST_GEMM_PF
#define PST_GEMM_PF 8
#endif
enum {
    MR = 14,          /* rows of the register tile */
    NR = 32,          /* columns of the register tile (two zmm) */
    KC = PST_GEMM_KC, /* depth of a packed block */
    NC = 3072,        /* columns of a packed B block (4.5 MB at KC = 384), shared */
    MB = PST_GEMM_MB, /* MR panels per task */
    NG = PST_GEMM_NG, /* at most NG NR panels per task */
    MC = 4032,        /* rows of a packed A block (288 panels, 6 MB), shared */
};
/* The block sizes were tuned on an AMD EPYC (Zen 4, 32 KB L1d, 1-2 MB L2) with
 * bench/bench_gemm; they can be overridden at compile time (-DPST_GEMM_KC=...). */

/* op(A)[i][k] = A[i*lda + k], or A[k*lda + i] when trans_a (A stored [K,M]). */
/* Rows ic .. ic+mc of op(A), depth k0 .. k0+kc, into MR-row panels p_begin .. p_end. */
static void pack_a(int trans_a, const float *A, int lda, int ic, int mc, int k0, int kc,
                   float *Ap, int p_begin, int p_end) {
    for (int p = p_begin; p < p_end; p++) {
        int i0 = ic + p * MR;
        int mr = ic + mc - i0 < MR ? ic + mc - i0 : MR;
        float *dst = Ap + (size_t)p * MR * kc;
        if (trans_a) {
            /* rows k of A^T storage hold the MR consecutive values we need */
            for (int k = 0; k < kc; k++) {
                const float *src = A + (size_t)(k0 + k) * lda + i0;
                float *d = dst + (size_t)k * MR;
                int i = 0;
                for (; i < mr; i++) d[i] = src[i];
                for (; i < MR; i++) d[i] = 0.0f;
            }
        } else {
            /* a transpose, 16 k at a time: each source row's cache line is used whole
             * before the next row's (rows lda apart may share an L1 set) */
            for (int kb = 0; kb < kc; kb += 16) {
                int kn = kc - kb < 16 ? kc - kb : 16;
                for (int i = 0; i < MR; i++) {
                    const float *src = A + (size_t)(i0 + i) * lda + k0 + kb;
                    float *d = dst + (size_t)kb * MR + i;
                    if (i < mr)
                        for (int k = 0; k < kn; k++) d[k * MR] = src[k];
                    else
                        for (int k = 0; k < kn; k++) d[k * MR] = 0.0f;
                }
            }
        }
    }
}

/* op(B)[k][j] with B stored [K,N] (ldb) or, transposed, [N,K]; columns j0.. of the block. */
static void pack_b(int trans_b, const float *B, int ldb, int k0, int kc, int j0, int nc,
                   float *Bp, int p_begin, int p_end) {
    for (int p = p_begin; p < p_end; p++) {
        int jj = j0 + p * NR;
        int nr = nc - p * NR < NR ? nc - p * NR : NR;
        float *dst = Bp + (size_t)p * NR * kc;
        if (!trans_b) {
            if (nr == NR) {
                for (int k = 0; k < kc; k++) {
                    const float *src = B + (size_t)(k0 + k) * ldb + jj;
                    _mm512_storeu_ps(dst + (size_t)k * NR, _mm512_loadu_ps(src));
                    _mm512_storeu_ps(dst + (size_t)k * NR + 16, _mm512_loadu_ps(src + 16));
                }
            } else {
                for (int k = 0; k < kc; k++) {
                    const float *src = B + (size_t)(k0 + k) * ldb + jj;
                    float *d = dst + (size_t)k * NR;
                    int j = 0;
                    for (; j < nr; j++) d[j] = src[j];
                    for (; j < NR; j++) d[j] = 0.0f;
                }
            }
        } else {
            /* a transpose, 16 k at a time (as in pack_a) */
            for (int kb = 0; kb < kc; kb += 16) {
                int kn = kc - kb < 16 ? kc - kb : 16;
                for (int j = 0; j < NR; j++) {
                    const float *src = B + (size_t)(jj + j) * ldb + k0 + kb;
                    float *d = dst + (size_t)kb * NR + j;
                    if (j < nr)
                        for (int k = 0; k < kn; k++) d[k * NR] = src[k];
                    else
                        for (int k = 0; k < kn; k++) d[k * NR] = 0.0f;
                }
            }
        }
    }
}

static inline __mmask16 lane_mask(int n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* acc[MR][NR] = Σ_k Ap[k][i]·Bp[k][j]; C[i][j] = alpha·acc + beta·C for i < mr, j < nr. */
static void micro_kernel(int kc, const float *restrict Ap, const float *restrict Bp, float *C,
                         int ldc, int mr, int nr, float alpha, float beta) {
    __m512 c0[MR], c1[MR];
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++) {
        c0[i] = _mm512_setzero_ps();
        c1[i] = _mm512_setzero_ps();
    }
#ifndef PST_GEMM_NOPFC
    /* the C tile is read / written after the k loop: start fetching it now */
    for (int i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(C + (size_t)i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(C + (size_t)i * ldc + NR - 1), _MM_HINT_T0);
    }
#endif
    for (int k = 0; k < kc; k++) {
        __m512 b0 = _mm512_load_ps(Bp);
        __m512 b1 = _mm512_load_ps(Bp + 16);
        _mm_prefetch((const char *)(Bp + PST_GEMM_PF * NR), _MM_HINT_T0);
#pragma GCC unroll 14
        for (int i = 0; i < MR; i++) {
            __m512 a = _mm512_set1_ps(Ap[i]);
            c0[i] = _mm512_fmadd_ps(a, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(a, b1, c1[i]);
        }
        Ap += MR;
        Bp += NR;
    }
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    __mmask16 m0 = lane_mask(nr), m1 = lane_mask(nr - 16);
#pragma GCC unroll 14
    for (int i = 0; i < MR; i++) {
        if (i < mr) {
            float *c = C + (size_t)i * ldc;
            __m512 r0 = _mm512_mul_ps(va, c0[i]), r1 = _mm512_mul_ps(va, c1[i]);
            if (beta != 0.0f) { /* beta == 0: C is not read (it may hold NaN) */
                r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), r0);
                r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), r1);
            }
            _mm512_mask_storeu_ps(c, m0, r0);
            _mm512_mask_storeu_ps(c + 16, m1, r1);
        }
    }
}

/* C[i][j] *= beta for all of C (used when K == 0 or alpha == 0). */
static void scale_c(int M, int N, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        if (beta == 0.0f) memset(c, 0, (size_t)N * sizeof(float));
        else
            for (int j = 0; j < N; j++) c[j] *= beta;
    }
}

int pst_sgemm_avx512(int trans_a, int trans_b, int M, int N, int K, float alpha,
                     const float *A, int lda, const float *B, int ldb, float beta, float *C,
                     int ldc) {
    if (M <= 0 || N <= 0) return 0;
    if (K <= 0 || alpha == 0.0f) {
        if (beta != 1.0f) scale_c(M, N, beta, C, ldc);
        return 0;
    }
    int kc_max = K < KC ? K : KC;
    int nc_max = N < NC ? N : NC;
    int mc_max = M < MC ? M : MC;
    int a_panels_max = (mc_max + MR - 1) / MR;
    int b_panels_max = (nc_max + NR - 1) / NR;
    size_t a_bytes = (size_t)a_panels_max * MR * kc_max * sizeof(float);
    size_t b_bytes = (size_t)b_panels_max * NR * kc_max * sizeof(float);
    float *Ap = aligned_alloc(64, (a_bytes + 63) & ~(size_t)63);
    float *Bp = aligned_alloc(64, (b_bytes + 63) & ~(size_t)63);
    if (!Ap || !Bp) {
        free(Ap);
        free(Bp);
        return -1;
    }
    /* Threads: all of OpenMP's, but one inside a parallel region and for small products
     * (below ~4 MFLOP a fork costs more than it saves). */
    double flops = 2.0 * M * N * K;
    int nthreads = omp_in_parallel() || flops < 4e6 ? 1 : omp_get_max_threads();

#pragma omp parallel num_threads(nthreads)
    {
        for (int jc = 0; jc < N; jc += NC) {
            int nc = N - jc < NC ? N - jc : NC;
            int b_panels = (nc + NR - 1) / NR;
            for (int pc = 0; pc < K; pc += KC) {
                int kc = K - pc < KC ? K - pc : KC;
                float beta_pc = pc == 0 ? beta : 1.0f;
#pragma omp for schedule(static)
                for (int p = 0; p < b_panels; p++)
                    pack_b(trans_b, B, ldb, pc, kc, jc, nc, Bp, p, p + 1);
                for (int ic = 0; ic < M; ic += MC) {
                    int mc = M - ic < MC ? M - ic : MC;
                    int a_panels = (mc + MR - 1) / MR;
                    /* Split the NR panels into column groups so that there are at least
                     * ~4 tasks per thread even when M is small. */
                    int m_tasks = (a_panels + MB - 1) / MB;
                    int n_groups = (b_panels + NG - 1) / NG;
                    while (m_tasks * n_groups < 4 * nthreads && n_groups < b_panels) n_groups *= 2;
                    if (n_groups > b_panels) n_groups = b_panels;
                    int per_group = (b_panels + n_groups - 1) / n_groups;
                    int n_tasks = m_tasks * n_groups;
#pragma omp for schedule(static)
                    for (int p = 0; p < a_panels; p++)
                        pack_a(trans_a, A, lda, ic, mc, pc, kc, Ap, p, p + 1);
                    /* implicit barrier: both packed blocks are complete */
#pragma omp for schedule(dynamic, 1)
                    for (int t = 0; t < n_tasks; t++) {
                        int mt = t % m_tasks, ng = t / m_tasks;
                        int p0 = mt * MB, p1 = p0 + MB < a_panels ? p0 + MB : a_panels;
                        int q0 = ng * per_group;
                        int q1 = q0 + per_group < b_panels ? q0 + per_group : b_panels;
                        /* an A panel (MR×KC, 21 KB) stays in L1 while the task's
                         * B panels (up to NG·KC·NR·4 = 768 KB) stream from L2 */
                        for (int p = p0; p < p1; p++) {
                            int i = p * MR;
                            int mr = mc - i < MR ? mc - i : MR;
                            for (int q = q0; q < q1; q++) {
                                int j = q * NR;
                                int nr = nc - j < NR ? nc - j : NR;
                                micro_kernel(kc, Ap + (size_t)p * MR * kc, Bp + (size_t)q * NR * kc,
                                             C + (size_t)(ic + i) * ldc + jc + j, ldc, mr, nr,
                                             alpha, beta_pc);
                            }
                        }
                    }
                    /* implicit barrier: the packed A block may be overwritten */
                }
            }
        }
    }
    free(Ap);
    free(Bp);
    return 0;
}

#pragma GCC pop_options

#else

int pst_sgemm_avx512(int trans_a, int trans_b, int M, int N, int K, float alpha,
                     const float *A, int lda, const float *B, int ldb, float beta, float *C,
                     int ldc) {
    return -1;
}

#endif
