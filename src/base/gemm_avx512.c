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
#include "base/exp_fast.h"
#include "posterior/base.h"

#include <math.h>

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
#ifndef PST_GEMM_HEAD_PF
#define PST_GEMM_HEAD_PF 2
#endif
#ifndef PST_GEMM_PF
#define PST_GEMM_PF 8
#endif
#ifndef PST_GEMM_THIN_PF
#define PST_GEMM_THIN_PF 2
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

static inline __mmask16 lane_mask(int n) {
    return n >= 16 ? (__mmask16)0xFFFF : n <= 0 ? (__mmask16)0 : (__mmask16)((1u << n) - 1);
}

/* r[i] = column i of the 16×16 matrix whose rows were r[0..15]. */
static inline __attribute__((always_inline)) void transpose16(__m512 r[16]) {
    __m512 t[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        r[4 * i] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 1] = _mm512_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        r[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        r[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0x88);
        t[4 + i] = _mm512_shuffle_f32x4(r[i], r[4 + i], 0xDD);
        t[8 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0x88);
        t[12 + i] = _mm512_shuffle_f32x4(r[8 + i], r[12 + i], 0xDD);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0x88);
        r[8 + i] = _mm512_shuffle_f32x4(t[i], t[8 + i], 0xDD);
        r[4 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0x88);
        r[12 + i] = _mm512_shuffle_f32x4(t[4 + i], t[12 + i], 0xDD);
    }
}

/* r[k] = lanes i < rows of column k of the block src[i][0..kn) (rows ld apart), for
 * k < 16; lanes i >= rows, and columns k >= kn, are 0. A transpose of a 16×16 block,
 * so that packing reads each source row's 64 bytes whole and writes whole vectors. */
static inline __attribute__((always_inline)) void load_transposed16(const float *src, size_t ld,
                                                                     int rows, int kn,
                                                                     __m512 r[16]) {
    __mmask16 m = lane_mask(kn);
    for (int i = 0; i < 16; i++)
        r[i] = i < rows ? _mm512_maskz_loadu_ps(m, src + i * ld) : _mm512_setzero_ps();
    transpose16(r);
}

/* op(A)[i][k] = A[i*lda + k], or A[k*lda + i] when trans_a (A stored [K,M]). */
/* Rows ic .. ic+mc of op(A), depth k0 .. k0+kc, into MR-row panels p_begin .. p_end. */
static void pack_a(int trans_a, const float *A, int lda, int ic, int mc, int k0, int kc,
                   float *Ap, int p_begin, int p_end) {
    for (int p = p_begin; p < p_end; p++) {
        int i0 = ic + p * MR;
        int mr = ic + mc - i0 < MR ? ic + mc - i0 : MR;
        float *dst = Ap + (size_t)p * MR * kc;
        if (trans_a) {
            /* rows k of A^T storage hold the MR consecutive values we need: one masked
             * vector each (lanes >= mr read as 0, lanes >= MR not stored) */
            __mmask16 mload = lane_mask(mr), mstore = lane_mask(MR);
            for (int k = 0; k < kc; k++)
                _mm512_mask_storeu_ps(dst + (size_t)k * MR, mstore,
                                      _mm512_maskz_loadu_ps(mload, A + (size_t)(k0 + k) * lda + i0));
        } else {
            /* a transpose, 16 k at a time (MR = 14 of the 16 lanes are stored) */
            for (int kb = 0; kb < kc; kb += 16) {
                int kn = kc - kb < 16 ? kc - kb : 16;
                __m512 r[16];
                load_transposed16(A + (size_t)i0 * lda + k0 + kb, (size_t)lda, mr, kn, r);
                for (int k = 0; k < kn; k++)
                    _mm512_mask_storeu_ps(dst + (size_t)(kb + k) * MR, lane_mask(MR), r[k]);
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
            /* a transpose, 16 k × 16 columns at a time (as in pack_a) */
            for (int kb = 0; kb < kc; kb += 16) {
                int kn = kc - kb < 16 ? kc - kb : 16;
                for (int h = 0; h < NR; h += 16) {
                    __m512 r[16];
                    load_transposed16(B + (size_t)(jj + h) * ldb + k0 + kb, (size_t)ldb, nr - h, kn, r);
                    for (int k = 0; k < kn; k++) _mm512_store_ps(dst + (size_t)(kb + k) * NR + h, r[k]);
                }
            }
        }
    }
}

/* c[0..32) = alpha·(a0 | a1) + beta·c, lanes masked by m0 | m1; with beta = 0, c is not
 * read (it may hold NaN). va, vb: alpha and beta broadcast. */
static inline __attribute__((always_inline)) void store_row32(float *c, __m512 a0, __m512 a1, __m512 va,
                                                              __m512 vb, float beta, __mmask16 m0,
                                                              __mmask16 m1) {
    __m512 r0 = _mm512_mul_ps(va, a0), r1 = _mm512_mul_ps(va, a1);
    if (beta != 0.0f) {
        r0 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m0, c), r0);
        r1 = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m1, c + 16), r1);
    }
    _mm512_mask_storeu_ps(c, m0, r0);
    _mm512_mask_storeu_ps(c + 16, m1, r1);
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
        if (i < mr) store_row32(C + (size_t)i * ldc, c0[i], c1[i], va, vb, beta, m0, m1);
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

/* 1 when the product needs no arithmetic, done here: C is empty (M or N <= 0), or
 * alpha·A·B vanishes (K <= 0 or alpha = 0) and C = beta·C. Every kernel starts with it. */
static int trivial_product(int M, int N, int K, float alpha, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return 1;
    if (K > 0 && alpha != 0.0f) return 0;
    if (beta != 1.0f) scale_c(M, N, beta, C, ldc);
    return 1;
}

/* A deep product with a small C (the output layer's dX = dL·wte: K = V, M·N a few
 * thousand): the blocked loop below would meet three barriers per KC-deep block (131
 * for V = 50257), each a futex wake-up with passive waiting. Instead the depth goes in
 * fixed chunks of K_SPLIT, each a whole single-threaded product into its own partial
 * C, the chunks shared by the threads; then C = alpha·Σ_chunks + beta·C, the chunks
 * summed in order, so the result does not depend on the threads. */
#define K_SPLIT (4 * KC)
static int use_k_split(int M, int N, int K) {
    return K >= 2 * K_SPLIT && (double)M * N <= (1 << 18); /* on one thread too: the same sums */
}

/* (not inlined: its OpenMP regions are named after it, and tests/build/test_no_avx512.sh
 * finds the kernel file's functions by their symbols) */
__attribute__((noinline)) static int sgemm_k_split(int trans_a, int trans_b, int M, int N, int K, float alpha,
                                                   const float *A, int lda, const float *B, int ldb, float beta,
                                                   float *C, int ldc) {
    int chunks = (K + K_SPLIT - 1) / K_SPLIT;
    size_t mn = (size_t)M * N;
    float *P = aligned_alloc(64, ((size_t)chunks * mn * sizeof(float) + 63) & ~(size_t)63);
    if (!P) return -1;
    int bad = 0;
#pragma omp parallel for schedule(dynamic, 1) reduction(| : bad)
    for (int c = 0; c < chunks; c++) {
        int k0 = c * K_SPLIT, kc = K - k0 < K_SPLIT ? K - k0 : K_SPLIT;
        const float *Ac = trans_a ? A + (size_t)k0 * lda : A + k0;
        const float *Bc = trans_b ? B + k0 : B + (size_t)k0 * ldb;
        bad |= pst_sgemm_avx512(trans_a, trans_b, M, N, kc, 1.0f, Ac, lda, Bc, ldb, 0.0f, P + c * mn, N) != 0;
    }
    if (!bad) {
#pragma omp parallel for schedule(static)
        for (int i = 0; i < M; i++) {
            float *ci = C + (size_t)i * ldc;
            for (int j = 0; j < N; j++) {
                float sum = 0;
                for (int c = 0; c < chunks; c++) sum += P[c * mn + (size_t)i * N + j];
                ci[j] = beta == 0.0f ? alpha * sum : alpha * sum + beta * ci[j];
            }
        }
    }
    free(P);
    return bad ? -1 : 0;
}

int pst_sgemm_avx512(int trans_a, int trans_b, int M, int N, int K, float alpha,
                     const float *A, int lda, const float *B, int ldb, float beta, float *C,
                     int ldc) {
    if (trivial_product(M, N, K, alpha, beta, C, ldc)) return 0;
    if (use_k_split(M, N, K)) return sgemm_k_split(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
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

/* ---- thin products: M <= PST_GEMM_THIN_MAX rows ----------------------------
 * Decoding runs products with one row per sequence: C[M,N] = op(A)[M,K]·op(B)[K,N]
 * with M of 1..8 and B a whole weight matrix. They are bound by reading B, so B is
 * streamed exactly once, unpacked, with the few rows of A kept in L1 (copied first
 * into a zero-padded [M, Kp] buffer, Kp = K rounded up to 16):
 *   B stored [N,K] (trans_b): C[i][j] = A[i]·B[j], one row of B (a sequential
 *                              stream) against up to 4 rows of A at a time;
 *   B stored [K,N]:           C[i][j..] = Σ_k A[i][k]·B[k][j..], accumulators of a
 *                              chunk of columns in L1, 8 rows of B per pass.
 * Threads split the columns j. Each element of C is summed by one thread in a fixed
 * order, so results do not depend on the thread count. This is the one thin kernel:
 * the KV-cache decoder (prior/sample.c) runs it through pst_sgemm. */

/* as store_row32 does it: alpha·v rounded, then beta·c added in one FMA */
static inline void store_c(float *c, float v, float alpha, float beta) {
    float r = alpha * v;
    *c = beta == 0.0f ? r : fmaf(beta, *c, r);
}

/* The thin kernels read B as stored in fp32, or in bfloat16 (bf = 1: B points at
 * uint16_t, each value the top half of an fp32, widened exactly before its FMAs, so C is
 * bit for bit what B's widened copy gives, read at half the bytes). bf is a constant at
 * every call, so each variant compiles to its own loop. */
static inline __attribute__((always_inline)) const char *b_at(const int bf, const void *B, size_t i) {
    return (const char *)B + i * (bf ? sizeof(uint16_t) : sizeof(float));
}

static inline __attribute__((always_inline)) __m512 widen16(const uint16_t *q) {
    __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)q));
    return _mm512_castsi512_ps(_mm512_slli_epi32(w, 16));
}

/* dst[0 .. n) = src[0 .. n) widened from bf16 (the top half of an fp32: exact), dst[n ..
 * width) = 0; the bf16 kernels widen each block of B with it just before use */
static void widen_bf16(float *dst, const uint16_t *src, int n, int width) {
    int k = 0;
    for (; k + 16 <= n; k += 16) _mm512_storeu_ps(dst + k, widen16(src + k));
    for (; k < n; k++) {
        uint32_t u = (uint32_t)src[k] << 16;
        memcpy(dst + k, &u, sizeof u);
    }
    for (; k < width; k++) dst[k] = 0.0f;
}

/* the first n (< 16) of 16 bf16 values at q, the others zero (widened through memory: a
 * masked 16-bit load needs AVX512BW) */
static __attribute__((noinline)) __m512 widen16_part(const uint16_t *q, int n) {
    float part[16] __attribute__((aligned(64)));
    widen_bf16(part, q, n, 16);
    return _mm512_load_ps(part);
}

/* 16 consecutive values of B from element i: all 16 (m = 0xFFFF), or the lanes of the
 * prefix mask m (lane_mask), the others zero (the tail of a row) */
static inline __attribute__((always_inline)) __m512 b_load16(const int bf, const void *B, size_t i, __mmask16 m) {
    if (!bf) return m == 0xFFFF ? _mm512_loadu_ps((const float *)B + i) : _mm512_maskz_loadu_ps(m, (const float *)B + i);
    return m == 0xFFFF ? widen16((const uint16_t *)B + i) : widen16_part((const uint16_t *)B + i, __builtin_popcount(m));
}

/* trans_b: columns j0 .. j1 of C for rows i0 .. i0+mi (mi <= 4, a compile-time
 * constant once inlined, so that the 16 accumulators stay in registers). */
static inline __attribute__((always_inline)) void
thin_nt_rows(const int bf, const int mi, int j0, int j1, int K, int Kp, const float *Ab, const void *B,
             int ldb, float alpha, float beta, float *C, int ldc) {
    __mmask16 tail = lane_mask(K - (Kp - 16));
    for (int j = j0; j < j1; j++) {
        /* one row of B at a time (rows are contiguous: one sequential stream), two
         * accumulators per row of A over alternate 16-float steps of k */
        size_t b = (size_t)j * ldb; /* element of B where row j starts */
        __m512 acc0[4], acc1[4];
        for (int i = 0; i < mi; i++) acc0[i] = acc1[i] = _mm512_setzero_ps();
        int k = 0;
        for (; k + 32 <= K; k += 32) {
#if PST_GEMM_THIN_PF > 0
            /* rows PST_GEMM_THIN_PF ahead, into L2: one sequential stream per thread does
             * not keep enough reads in flight (bench_gemm --cold, 2 threads, Zen 5:
             * 4 x 50257 x 768 91 -> 114-118 GFLOP/s, 8 rows 123-135 -> 151-164). Into L2
             * rather than L1, and for one row of A too: wte streamed at 0.84-0.89 of
             * bench_ceilings' read bandwidth -> 0.91-1.09 (Xeon model 207, 1 and 4 rows) */
            _mm_prefetch(b_at(bf, B, b + PST_GEMM_THIN_PF * ldb + k), _MM_HINT_T1);
            if (!bf) _mm_prefetch(b_at(bf, B, b + PST_GEMM_THIN_PF * ldb + k + 16), _MM_HINT_T1);
#endif
            __m512 b0 = b_load16(bf, B, b + k, 0xFFFF), b1 = b_load16(bf, B, b + k + 16, 0xFFFF);
            for (int i = 0; i < mi; i++) {
                acc0[i] = _mm512_fmadd_ps(_mm512_load_ps(Ab + (size_t)i * Kp + k), b0, acc0[i]);
                acc1[i] = _mm512_fmadd_ps(_mm512_load_ps(Ab + (size_t)i * Kp + k + 16), b1, acc1[i]);
            }
        }
        for (; k < Kp; k += 16) {
            __m512 b0 = b_load16(bf, B, b + k, k + 16 <= K ? (__mmask16)0xFFFF : tail);
            for (int i = 0; i < mi; i++)
                acc0[i] = _mm512_fmadd_ps(_mm512_load_ps(Ab + (size_t)i * Kp + k), b0, acc0[i]);
        }
        for (int i = 0; i < mi; i++)
            store_c(C + (size_t)i * ldc + j, _mm512_reduce_add_ps(_mm512_add_ps(acc0[i], acc1[i])),
                    alpha, beta);
    }
}

static inline __attribute__((always_inline)) void thin_nt(const int bf, int mi, int j0, int j1, int K, int Kp,
                                                          const float *Ab, const void *B, int ldb, float alpha,
                                                          float beta, float *C, int ldc) {
    switch (mi) {
    case 1: thin_nt_rows(bf, 1, j0, j1, K, Kp, Ab, B, ldb, alpha, beta, C, ldc); break;
    case 2: thin_nt_rows(bf, 2, j0, j1, K, Kp, Ab, B, ldb, alpha, beta, C, ldc); break;
    case 3: thin_nt_rows(bf, 3, j0, j1, K, Kp, Ab, B, ldb, alpha, beta, C, ldc); break;
    default: thin_nt_rows(bf, 4, j0, j1, K, Kp, Ab, B, ldb, alpha, beta, C, ldc); break;
    }
}

/* B stored [K,N]: columns j0 .. j1 of C, all M (<= 8, or 16) rows. The columns go in
 * chunks of at most THIN_ACC(M) / M whose accumulators (16 KB; 32 KB for 16 rows) stay in
 * L1, while B's rows stream past them R at a time (one pass):
 *   acc[i][j..j+15] += Σ_{r<R} A[i][k+r]·B[k+r][j..j+15]
 * with the M·R values of A broadcast in registers, one load and one store of an
 * accumulator vector per R·M FMAs. Each pass prefetches the next pass's R rows of the
 * chunk (to L2): without it the FMAs between loads let the hardware prefetcher fall
 * behind. GPT-2 small's 48 body products at 4 rows, B from memory, 2 threads (Xeon
 * model 207, medians): 72-78% of a plain sum's read rate before, 88-90% now (~82% of a
 * sum that prefetches; docs/benchmarks.md, session 13). This was the decoder's own kernel
 * in prior/sample.c before base had it. */
#define THIN_PAD_ROWS 16 /* a decoding batch of 9-16 rows runs as 16 (small_product) */
#define THIN_ACC(M) ((M) > 8 ? 8192 : 4096)
#define THIN_STRIDE(M) (THIN_ACC(M) / (M) / 16 * 16) /* floats between rows of acc */
static inline __attribute__((always_inline)) void
thin_nn_pass(const int bf, const int M, const int R, int cw, const void *B, size_t w, size_t N, const float *Ab,
             int Kp, int k, int prefetch, float *acc) {
    __m512 x[THIN_PAD_ROWS][8];
    for (int i = 0; i < M; i++)
        for (int r = 0; r < R; r++) x[i][r] = _mm512_set1_ps(Ab[(size_t)i * Kp + k + r]);
    __mmask16 tail = lane_mask(cw % 16 ? cw % 16 : 16);
    for (int j = 0; j < cw; j += 16) {
        __mmask16 m = j + 16 <= cw ? (__mmask16)0xFFFF : tail;
        __m512 b[8];
        for (int r = 0; r < R; r++) b[r] = b_load16(bf, B, w + r * N + j, m);
        if (prefetch && (!bf || j % 32 == 0)) /* a cache line: 16 fp32 or 32 bf16 */
            for (int r = 0; r < R; r++) _mm_prefetch(b_at(bf, B, w + (R + r) * N + j), _MM_HINT_T1);
        for (int i = 0; i < M; i++) {
            __m512 a = _mm512_load_ps(acc + i * THIN_STRIDE(M) + j);
            for (int r = 0; r < R; r++) a = _mm512_fmadd_ps(x[i][r], b[r], a);
            _mm512_store_ps(acc + i * THIN_STRIDE(M) + j, a);
        }
    }
}

/* (rows of C stored: the first mrows of the M of Ab) */
static inline __attribute__((always_inline)) void
thin_nn_rows(const int bf, const int M, int mrows, int j0, int j1, int K, int Kp, const float *Ab, const void *B,
             int ldb, float alpha, float beta, float *C, int ldc) {
    const int R = M <= 2 ? 8 : M <= 8 ? 4 : 2; /* M·R broadcasts: at most 32 */
    float acc[THIN_ACC(THIN_PAD_ROWS)] __attribute__((aligned(64))); /* row i at acc + i·THIN_STRIDE(M) */
    int cw_max = THIN_STRIDE(M), nchunks = (j1 - j0 + cw_max - 1) / cw_max;
    int cw_even = ((j1 - j0 + nchunks - 1) / nchunks + 15) / 16 * 16; /* chunks of equal width */
    size_t N = (size_t)ldb;
    for (int c0 = j0; c0 < j1; c0 += cw_even) {
        int cw = c0 + cw_even < j1 ? cw_even : j1 - c0;
        for (int i = 0; i < M; i++) /* the last vector's lanes past cw too */
            memset(acc + i * THIN_STRIDE(M), 0, (size_t)(cw + 15) / 16 * 16 * sizeof(float));
        int k = 0;
        for (; k + R <= K; k += R)
            thin_nn_pass(bf, M, R, cw, B, (size_t)k * N + c0, N, Ab, Kp, k, k + 2 * R <= K, acc);
        for (; k < K; k++) thin_nn_pass(bf, M, 1, cw, B, (size_t)k * N + c0, N, Ab, Kp, k, 0, acc);
        for (int i = 0; i < mrows; i++) {
            float *c = C + (size_t)i * ldc + c0, *ac = acc + i * THIN_STRIDE(M);
            for (int j = 0; j < cw; j++) store_c(c + j, ac[j], alpha, beta);
        }
    }
}

/* M rows of Ab (1-8, or THIN_PAD_ROWS with rows past mrows zero), the first mrows stored */
static inline __attribute__((always_inline)) void thin_nn(const int bf, int M, int mrows, int j0, int j1, int K,
                                                          int Kp, const float *Ab, const void *B, int ldb,
                                                          float alpha, float beta, float *C, int ldc) {
#define THIN_NN_ROWS(m) thin_nn_rows(bf, m, mrows, j0, j1, K, Kp, Ab, B, ldb, alpha, beta, C, ldc)
    switch (M) {
    case 1: THIN_NN_ROWS(1); break;
    case 2: THIN_NN_ROWS(2); break;
    case 3: THIN_NN_ROWS(3); break;
    case 4: THIN_NN_ROWS(4); break;
    case 5: THIN_NN_ROWS(5); break;
    case 6: THIN_NN_ROWS(6); break;
    case 7: THIN_NN_ROWS(7); break;
    case 8: THIN_NN_ROWS(8); break;
    default: THIN_NN_ROWS(THIN_PAD_ROWS); break;
    }
#undef THIN_NN_ROWS
}

/* The thin products with Ab of Mp >= M rows (Mp = M, or THIN_PAD_ROWS for a decoding batch
 * of 9-16 rows times a weight matrix as stored: rows past M zero, not stored); B in fp32,
 * or with B NULL, B16 in bf16. */
static int thin_product(int trans_a, int trans_b, int M, int Mp, int N, int K, float alpha, const float *A,
                        int lda, const float *B, const uint16_t *B16, int ldb, float beta, float *C, int ldc) {
    if (trivial_product(M, N, K, alpha, beta, C, ldc)) return 0;
    int Kp = (K + 15) / 16 * 16;
    /* op(A), zero-padded to Kp columns: on the stack when small (decoding's case) */
    float small[4096] __attribute__((aligned(64)));
    float *Ab = (size_t)Mp * Kp <= 4096 ? small : aligned_alloc(64, (size_t)Mp * Kp * sizeof(float));
    if (!Ab) return -1;
    for (int i = 0; i < Mp; i++)
        for (int k = 0; k < Kp; k++)
            Ab[(size_t)i * Kp + k] = k >= K || i >= M ? 0.0f
                                     : trans_a        ? A[(size_t)k * lda + i]
                                                      : A[(size_t)i * lda + k];
    double bytes = (B16 ? 2.0 : 4.0) * N * K;
    int nthreads = omp_in_parallel() || bytes < 1e6 ? 1 : omp_get_max_threads();
    if (trans_b) {
        /* column chunks of 128 (a multiple of the 4-row and 128-column steps) per task,
         * handed out as threads come free: each chunk is one contiguous stream of B, and
         * a thread that streams slower gets fewer (wte at 0.94-0.95 of the read ceiling
         * with halves fixed per thread, 0.96-1.03 so; 4 pairs, Xeon model 207) */
        int chunks = (N + 127) / 128;
#pragma omp parallel for schedule(dynamic) num_threads(nthreads)
        for (int t = 0; t < chunks; t++) {
            int j0 = t * 128, j1 = j0 + 128 < N ? j0 + 128 : N;
            for (int i0 = 0; i0 < M; i0 += 4) {
                int mi = M - i0 < 4 ? M - i0 : 4;
                const float *Ai = Ab + (size_t)i0 * Kp;
                float *Ci = C + (size_t)i0 * ldc;
                if (B16) thin_nt(1, mi, j0, j1, K, Kp, Ai, B16, ldb, alpha, beta, Ci, ldc);
                else thin_nt(0, mi, j0, j1, K, Kp, Ai, B, ldb, alpha, beta, Ci, ldc);
            }
        }
    } else {
        /* one contiguous range of columns (a multiple of 16) per thread */
#pragma omp parallel num_threads(nthreads)
        {
            int team = omp_get_num_threads(), per = (N + team - 1) / team;
            per = (per + 15) / 16 * 16;
            int j0 = omp_get_thread_num() * per, j1 = j0 + per < N ? j0 + per : N;
            if (j0 < j1 && B16) thin_nn(1, Mp, M, j0, j1, K, Kp, Ab, B16, ldb, alpha, beta, C, ldc);
            else if (j0 < j1) thin_nn(0, Mp, M, j0, j1, K, Kp, Ab, B, ldb, alpha, beta, C, ldc);
        }
    }
    if (Ab != small) free(Ab);
    return 0;
}

int pst_sgemm_avx512_thin(int trans_a, int trans_b, int M, int N, int K, float alpha,
                          const float *A, int lda, const float *B, int ldb, float beta, float *C,
                          int ldc) {
    if (M > PST_GEMM_THIN_MAX) return -1;
    return thin_product(trans_a, trans_b, M, M, N, K, alpha, A, lda, B, NULL, ldb, beta, C, ldc);
}

int pst_sgemm_avx512_thin_bf16(int trans_b, int M, int N, int K, const float *A, int lda, const uint16_t *B16,
                               int ldb, float beta, float *C, int ldc) {
    if (M > PST_GEMM_THIN_MAX) return -1;
    return thin_product(0, trans_b, M, M, N, K, 1.0f, A, lda, NULL, B16, ldb, beta, C, ldc);
}


/* A [M, K] (rows lda apart) into groups of W rows, k-major: Ap[g][k][i] = A[g·W + i][k],
 * rows past M zero (the small-product and output-layer kernels broadcast or load a group's
 * column k from there). */
static void pack_groups_kmajor(const float *A, int lda, int M, int K, int W, float *Ap) {
    for (int g = 0; g * W < M; g++)
        for (int k = 0; k < K; k++)
            for (int i = 0; i < W; i++) {
                int r = g * W + i;
                Ap[((size_t)g * K + k) * W + i] = r < M ? A[(size_t)r * lda + k] : 0.0f;
            }
}

/* ---- small products: C[M,N] = alpha·A[M,K]·B[K,N] + beta·C, 8 < M <= 64 -------------
 * a decoding batch times a weight matrix as stored ([IC, OC]): too few rows for the
 * packed kernel's 14-row tiles (16 rows = two tiles, the second 2/14 used), too many
 * for the thin kernel. B is read as stored, never packed; A is packed once per call,
 * k-major per 8 rows ([M/8][K][8], zero-padded rows). The register tile is 8 rows × 32
 * columns: per k, two vectors of B and 8 broadcasts of A feed 16 FMAs into 16
 * accumulators. Threads split the 32-column tiles; each element of C is summed by one
 * thread over k in order, so results do not depend on the threads. */
/* c0 | c1 (8 rows × 32 columns, registers) += Σ_{k0 <= k < k1} a[k][i]·B[k][0..32), B's
 * rows masked to nj columns (m0, m1) unless full (a constant at each call: a mask register
 * reloaded every k took a slot of the FMA port, ~20% of the hot speed). With pf, row k of
 * the same 32 columns of the next block (pf + k·ldb) is prefetched to L2 as row k is used
 * (rows past a shorter last block only name addresses: a prefetch never faults). */
static inline __attribute__((always_inline)) void small_block(const int full, int k0, int k1, const float *a,
                                                              const float *B, int ldb, __mmask16 m0, __mmask16 m1,
                                                              const float *pf, __m512 c0[8], __m512 c1[8]) {
    for (int k = k0; k < k1; k++) {
        const float *b = B + (size_t)k * ldb;
        if (pf) {
            _mm_prefetch((const char *)(pf + (size_t)k * ldb), _MM_HINT_T1);
            _mm_prefetch((const char *)(pf + (size_t)k * ldb + 16), _MM_HINT_T1);
        }
        __m512 b0 = full ? _mm512_loadu_ps(b) : _mm512_maskz_loadu_ps(m0, b);
        __m512 b1 = full ? _mm512_loadu_ps(b + 16) : _mm512_maskz_loadu_ps(m1, b + 16);
#pragma GCC unroll 8
        for (int i = 0; i < 8; i++) {
            __m512 av = _mm512_set1_ps(a[(size_t)k * 8 + i]);
            c0[i] = _mm512_fmadd_ps(av, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(av, b1, c1[i]);
        }
    }
}


#define SMALL_KB 128 /* rows of B a block: 16 KB of a 32-column tile, L1 */
#define SMALL_CT 8    /* 32-column tiles a chunk: 1 KB of each row of B, one stream */
/* The 32-column tiles t0 .. t1 of C, SMALL_CT at a time. For each block of SMALL_KB rows of
 * B, every tile of the chunk and every 8-row panel in turn: the block (SMALL_CT·16 KB, L2)
 * is read from memory once. The first panel of each tile prefetches that tile's part of
 * the next block (or of the next chunk's first block), a row per row it uses, so the reads
 * ahead are spread over the arithmetic (fp32 B; 16x768x3072 with B from memory before:
 * 62 -> 104-126 GFLOP/s median, docs/benchmarks.md, with the chunk's next block
 * prefetched in one burst before the first tile, which stalled the core ~10% of the time
 * even with B in L2). Each panel's accumulators wait in acc between blocks (in registers
 * within one): each element of C is one chain over k in order. With B16 (B NULL), B is
 * bf16 and each tile's block is widened into wt (L1) by the first panel, which prefetches
 * the next block's rows as it widens (a 32-column row of bf16 is one cache line). */
static void small_tiles(int t0, int t1, int M, int N, int K, const float *Ap, float alpha, const float *B,
                        const uint16_t *B16, int ldb, float beta, float *C, int ldc) {
    __m512 acc[SMALL_CT][PST_GEMM_SMALL_MAX / 8][2][8]; /* 64 KB at most */
    float wt[SMALL_KB * 32] __attribute__((aligned(64))); /* a widened block of a tile: 16 KB */
    int panels = (M + 7) / 8;
    for (int c0 = t0; c0 < t1; c0 += SMALL_CT) {
        int c1 = c0 + SMALL_CT < t1 ? c0 + SMALL_CT : t1;
        for (int t = c0; t < c1; t++)
            for (int p = 0; p < panels; p++)
                for (int i = 0; i < 8; i++) acc[t - c0][p][0][i] = acc[t - c0][p][1][i] = _mm512_setzero_ps();
        for (int k0 = 0; k0 < K; k0 += SMALL_KB) {
            int k1 = k0 + SMALL_KB < K ? k0 + SMALL_KB : K;
            for (int t = c0; t < c1; t++) {
                int j0 = t * 32, nj = N - j0 < 32 ? N - j0 : 32;
                __mmask16 m0 = lane_mask(nj), m1 = lane_mask(nj - 16);
                for (int p = 0; p < panels; p++) {
                    __m512 x0[8], x1[8];
#pragma GCC unroll 8
                    for (int i = 0; i < 8; i++) x0[i] = acc[t - c0][p][0][i], x1[i] = acc[t - c0][p][1][i];
                    if (B16 && p == 0) { /* the block of this tile, [k1 - k0][32]; prefetching as fp32 below */
                        const uint16_t *pf16 = k1 < K                ? B16 + (size_t)k1 * ldb + j0
                                               : t + SMALL_CT < t1 ? B16 + (size_t)(t + SMALL_CT) * 32
                                                                     : NULL;
                        for (int k = k0; k < k1; k++) {
                            if (pf16) _mm_prefetch((const char *)(pf16 + (size_t)(k - k0) * ldb), _MM_HINT_T1);
                            widen_bf16(wt + (size_t)(k - k0) * 32, B16 + (size_t)k * ldb + j0, nj, 32);
                        }
                    }
                    const float *bt = B16 ? wt : B + (size_t)k0 * ldb + j0;
                    /* the rows this tile's next block starts at: the next block, or the
                     * same tile of the next chunk from row 0 */
                    const float *pf = NULL;
                    if (!B16 && p == 0) {
                        if (k1 < K) pf = B + (size_t)k1 * ldb + j0;
                        else if (t + SMALL_CT < t1) pf = B + (size_t)(t + SMALL_CT) * 32;
                    }
                    const float *ak = Ap + ((size_t)p * K + k0) * 8;
                    if (B16 || nj == 32)
                        small_block(1, 0, k1 - k0, ak, bt, B16 ? 32 : ldb, m0, m1, pf, x0, x1);
                    else
                        small_block(0, 0, k1 - k0, ak, bt, ldb, m0, m1, pf, x0, x1);
#pragma GCC unroll 8
                    for (int i = 0; i < 8; i++) acc[t - c0][p][0][i] = x0[i], acc[t - c0][p][1][i] = x1[i];
                }
            }
        }
        __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
        for (int t = c0; t < c1; t++) {
            int j0 = t * 32, nj = N - j0 < 32 ? N - j0 : 32;
            __mmask16 m0 = lane_mask(nj), m1 = lane_mask(nj - 16);
            for (int p = 0; p < panels; p++) {
                int mr = M - p * 8 < 8 ? M - p * 8 : 8;
                for (int i = 0; i < mr; i++)
                    store_row32(C + (size_t)(p * 8 + i) * ldc + j0, acc[t - c0][p][0][i], acc[t - c0][p][1][i], va,
                                vb, beta, m0, m1);
            }
        }
    }
}

/* 9-16 rows times a weight matrix of at least this many bytes (fp32) go through the thin
 * kernel padded to 16 rows instead: the same sums in the same order (each element one FMA
 * chain over k from zero, then alpha and beta as store_row32 applies them), so the same
 * bits, and it reads B from memory faster, where the 32-column tiles here walk down 128
 * rows 128 bytes at a time: GPT-2 small's 48 body products at 16 rows, 2 threads (Xeon
 * model 207) 9.2-11.0 -> 13.4-15.3 GB/s of B. With B in L2 it is slower (16 x 384 x 768,
 * one thread: 81-86 against 100-138 GFLOP/s), so small matrices, which stay in the
 * caches between decoding steps (the tiny model's 64-256 KB), keep the tiles. The
 * threshold sits below GPT-2 small's smallest matrix (768 x 768, 2.4 MB) and above one
 * core's L2 (2 MB); measured on this one kind of machine (docs/benchmarks.md, session 17). */
#define THIN_BATCH_MIN_BYTES (2.0 * 1024 * 1024)

static int small_product(int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                         const uint16_t *B16, int ldb, float beta, float *C, int ldc) {
    if (M > PST_GEMM_SMALL_MAX) return -1;
    if (M <= THIN_PAD_ROWS && 4.0 * N * K >= THIN_BATCH_MIN_BYTES)
        return thin_product(0, 0, M, THIN_PAD_ROWS, N, K, alpha, A, lda, B, B16, ldb, beta, C, ldc);
    if (trivial_product(M, N, K, alpha, beta, C, ldc)) return 0;
    int panels = (M + 7) / 8;
    /* packed A on the stack when small (a decoding batch of 16 by a width <= 512) */
    float stack[8192] __attribute__((aligned(64)));
    size_t na = (size_t)panels * K * 8;
    float *Ap = na <= 8192 ? stack : aligned_alloc(64, na * sizeof(float));
    if (!Ap) return -1;
    pack_groups_kmajor(A, lda, M, K, 8, Ap);
    int tiles = (N + 31) / 32;
    double flops = 2.0 * M * N * K;
    if (omp_in_parallel() || flops < 8e6) { /* no team to wake for a few microseconds of work */
        small_tiles(0, tiles, M, N, K, Ap, alpha, B, B16, ldb, beta, C, ldc);
    } else {
#pragma omp parallel
        {
            int team = omp_get_num_threads(), me = omp_get_thread_num();
            small_tiles(tiles * me / team, tiles * (me + 1) / team, M, N, K, Ap, alpha, B, B16, ldb, beta, C, ldc);
        }
    }
    if (Ap != stack) free(Ap);
    return 0;
}

int pst_sgemm_avx512_small(int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                           int ldb, float beta, float *C, int ldc) {
    return small_product(M, N, K, alpha, A, lda, B, NULL, ldb, beta, C, ldc);
}

int pst_sgemm_avx512_small_bf16(int M, int N, int K, const float *A, int lda, const uint16_t *B16, int ldb,
                                float beta, float *C, int ldc) {
    return small_product(M, N, K, 1.0f, A, lda, NULL, B16, ldb, beta, C, ldc);
}

/* ---- the output layer: C[M,N] = alpha·A[M,K]·B[N,K]ᵀ + beta·C, K <= 1024 ---------
 * hidden states [M, C] times the embedding matrix wte [V, C]: N (the vocabulary) is
 * huge, K (the width) small. B is used as stored, never packed: a tile of 16 rows of
 * B (16·K floats: 8 KB for the tiny model, 48 KB for GPT-2 small) stays in L1 or L2
 * while every 16-row group of A passes it,
 * with A packed once per call k-major ([M/16][K][16], zero-padded rows). Per k, one
 * vector of A (16 rows) and 16 broadcasts of B (16 columns of C) feed 16 FMAs into
 * acc[j][i] = C[i][j] of the tile; a 16×16 transpose turns the tile into rows of C.
 * So a decoding step (M = 16) reads wte once, as a stream, at the FMA peak; OpenBLAS
 * and the packed kernel above copy all of wte first, on every call. Each element of C
 * is summed by one thread over k in order: results do not depend on the threads. */


/* acc[u][j] (lanes i) = Σ_k a_u[k][i]·Bt[j][k] for the 16 rows j of a tile of B (rows ldt
 * apart) and one or two packed 16-row groups of A (a1 NULL: one). In two passes of 8
 * tile rows: 8 row pointers and 16 accumulators fit the registers (16 pointers did not:
 * the compiler parked half of them in vector registers and moved them back on every k,
 * ~60% of the FMA peak); with two groups each broadcast of B feeds two FMAs. */
static inline __attribute__((always_inline)) void head_tile(int K, const float *a0, const float *a1,
                                                            const float *Bt, int ldt, const float *pf,
                                                            __m512 acc[2][16]) {
    for (int h = 0; h < 16; h += 8) {
        const float *b[8];
        for (int j = 0; j < 8; j++) b[j] = Bt + (size_t)(h + j) * ldt;
        __m512 c[8], d[8];
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) c[j] = d[j] = _mm512_setzero_ps();
        if (a1) {
            for (int k = 0; k < K; k++) {
                if (pf && h == 0) _mm_prefetch((const char *)(pf + (size_t)k * 16), _MM_HINT_T0);
                __m512 av = _mm512_load_ps(a0 + (size_t)k * 16), aw = _mm512_load_ps(a1 + (size_t)k * 16);
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++) {
                    __m512 bj = _mm512_set1_ps(b[j][k]);
                    c[j] = _mm512_fmadd_ps(bj, av, c[j]);
                    d[j] = _mm512_fmadd_ps(bj, aw, d[j]);
                }
            }
        } else {
            for (int k = 0; k < K; k++) {
                if (pf && h == 0) _mm_prefetch((const char *)(pf + (size_t)k * 16), _MM_HINT_T0);
                __m512 av = _mm512_load_ps(a0 + (size_t)k * 16);
#pragma GCC unroll 8
                for (int j = 0; j < 8; j++) c[j] = _mm512_fmadd_ps(_mm512_set1_ps(b[j][k]), av, c[j]);
            }
        }
#pragma GCC unroll 8
        for (int j = 0; j < 8; j++) acc[0][h + j] = c[j], acc[1][h + j] = d[j];
    }
}

/* One group of A against a tile of B whose rows are K apart (wte itself, K a constant once
 * inlined): every row of the tile is one base pointer plus a constant offset, so all 16
 * rows go in one pass with 16 accumulator chains, where head_tile's 8 row pointers allow 8
 * (two FMAs in flight per port at the FMA's latency of 4 left no slack). */
static inline __attribute__((always_inline)) void head_tile1_packed(const int K, const float *a0,
                                                                   const float *Bt, const float *pf,
                                                                   __m512 acc[16]) {
    __m512 c[16];
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) c[j] = _mm512_setzero_ps();
    for (int k = 0; k < K; k++) {
        if (pf) _mm_prefetch((const char *)(pf + (size_t)k * 16), _MM_HINT_T0);
        __m512 av = _mm512_load_ps(a0 + (size_t)k * 16);
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) c[j] = _mm512_fmadd_ps(_mm512_set1_ps(Bt[j * K + k]), av, c[j]);
    }
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) acc[j] = c[j];
}

/* The last, partial tile of B (nj < 16 rows, ldb apart) as 16 rows K apart, the rows past
 * nj zero; returns edge. */
static const float *edge_tile(float *edge, const float *Bt, int ldb, int nj, int K) {
    for (int j = 0; j < 16; j++)
        for (int k = 0; k < K; k++) edge[j * K + k] = j < nj ? Bt[(size_t)j * ldb + k] : 0.0f;
    return edge;
}

int pst_sgemm_avx512_nt_head(int M, int N, int K, float alpha, const float *A, int lda,
                             const float *B, int ldb, float beta, float *C, int ldc) {
    if (K > PST_GEMM_HEAD_MAX_K) return -1;
    if (trivial_product(M, N, K, alpha, beta, C, ldc)) return 0;
    int groups = (M + 15) / 16;
    float *Ap = aligned_alloc(64, (size_t)groups * K * 16 * sizeof(float));
    if (!Ap) return -1;
    pack_groups_kmajor(A, lda, M, K, 16, Ap);
    int tiles = (N + 15) / 16;
    float *edge = NULL; /* the last, partial tile's rows, zero-padded to 16 (one thread's) */
    if (N % 16 && !(edge = aligned_alloc(64, (size_t)16 * K * sizeof(float)))) {
        free(Ap);
        return -1;
    }
    double flops = 2.0 * M * N * K;
    int nthreads = omp_in_parallel() || flops < 4e6 ? 1 : omp_get_max_threads();
#pragma omp parallel num_threads(nthreads)
    {
#pragma omp for schedule(static)
        for (int t = 0; t < tiles; t++) {
            int j0 = t * 16, nj = N - j0 < 16 ? N - j0 : 16;
            const float *Bt = B + (size_t)j0 * ldb;
            int ldt = ldb;
            if (nj < 16) Bt = edge_tile(edge, Bt, ldb, nj, K), ldt = K;
            /* the tile PF tiles ahead comes from memory while this one computes */
            const float *pf = t + PST_GEMM_HEAD_PF < tiles - 1 ? B + (size_t)(j0 + 16 * PST_GEMM_HEAD_PF) * ldb : NULL;
            __mmask16 cm = lane_mask(nj);
            __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
            for (int g = 0; g < groups; g += 2) {
                int two = g + 1 < groups; /* groups g and g + 1 share each broadcast of B */
                __m512 acc[2][16];
                /* the first groups bring the tile PF tiles ahead toward L1, a line per k:
                 * 16·K floats from its start, the whole tile when ldb = K (wte) */
                const float *a0 = Ap + (size_t)g * K * 16, *tpf = g == 0 ? pf : NULL;
                if (!two && ldt == K && K == 128) /* the tiny model's width */
                    head_tile1_packed(128, a0, Bt, tpf, acc[0]);
                else if (!two && ldt == K && K == 768) /* GPT-2 small's */
                    head_tile1_packed(768, a0, Bt, tpf, acc[0]);
                else
                    head_tile(K, a0, two ? Ap + (size_t)(g + 1) * K * 16 : NULL, Bt, ldt, tpf, acc);
                for (int u = 0; u <= two; u++) {
                    int gu = g + u;
                    transpose16(acc[u]); /* acc[u][i] = row gu·16 + i of the tile */
                    int mi = M - gu * 16 < 16 ? M - gu * 16 : 16;
                    for (int i = 0; i < mi; i++) {
                        float *c = C + (size_t)(gu * 16 + i) * ldc + j0;
                        __m512 r = _mm512_mul_ps(va, acc[u][i]);
                        if (beta != 0.0f) r = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(cm, c), r);
                        _mm512_mask_storeu_ps(c, cm, r);
                    }
                }
            }
        }
    }
    free(edge);
    free(Ap);
    return 0;
}


/* ---- the output layer with its log-softmax, the logits never stored ------------------
 * pst_sgemm_avx512_nt_head_lse (base/gemm.h). Scoring (log a(x), log π(x) without a
 * backward pass) needs of each row of logits l_i = A_i·Bᵀ only its maximum, its sum of
 * exps and the target's entry. The two-pass way writes all M × N logits (103 MB for 512
 * rows of GPT-2's vocabulary) and reads them back twice, from memory. Here each 16 × 16
 * tile of logits is used where head_tile1_packed leaves it, in registers (lanes = 16 rows
 * of one group of A): per row a running maximum m and sum s, s rescaled by e(m − m') when
 * the maximum grows (rarely, after the first tiles). The columns are cut into chunks of
 * PST_GEMM_LSE_COLS, each summed by one thread, and the chunks merged in order, so the
 * result does not depend on the threads. Sampling asks for the logits and the chunks'
 * partial sums as well: the inverse CDF walks the chunks, then the logits of one; it takes
 * the logits grouped (PST_GEMM_LOGITS_GROUPED), each tile stored as its 16 accumulators
 * are, which saves the transpose and the scattered rows of a row-major store. */
enum { LSE_TILES = PST_GEMM_LSE_COLS / 16 };

/* pst_exp_fast (base/exp_fast.h) on 16 lanes: the same reduction and polynomial with
 * explicit FMAs (the same in every compiler: gcc would contract the mul + add pairs, clang
 * would not), so within an ulp of pst_exp_fast, not bit for bit. Every input here is a
 * logit minus a running maximum, ≤ 0 (or NaN), so the clamp is max(−87, x) alone (a NaN
 * lane stays NaN; −inf, the maximum's start, gives e^−87). p·2ⁿ is one vscalefps, exact as
 * building 2ⁿ's exponent bits and multiplying, in 4 uops fewer. */
static inline __attribute__((always_inline)) __m512 exp16(__m512 x) {
    x = _mm512_max_ps(_mm512_set1_ps(-87.0f), x);
    __m512 t = _mm512_fmadd_ps(x, _mm512_set1_ps(PST_EXP_LOG2E), _mm512_set1_ps(PST_EXP_SHIFTER));
    __m512 n = _mm512_sub_ps(t, _mm512_set1_ps(PST_EXP_SHIFTER));
    __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(PST_EXP_LN2_LO), _mm512_fnmadd_ps(n, _mm512_set1_ps(PST_EXP_LN2_HI), x));
    __m512 p = _mm512_set1_ps(PST_EXP_P0);
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(PST_EXP_P1));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(PST_EXP_P2));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(PST_EXP_P3));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(PST_EXP_P4));
    p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(PST_EXP_P5));
    p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(p, r), r, r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* One tile's nj columns acc[0..nj) (lanes: 16 rows) into the rows' running max m and sum
 * s: m' = max(m, max_j acc[j]); s = s·e(m − m') + Σ_j e(acc[j] − m') */
static inline __attribute__((always_inline)) void lse_tile(const __m512 acc[16], const int nj, float *m_g,
                                                           float *s_g) {
    __m512 mx = acc[0];
    for (int j = 1; j < nj; j++) mx = _mm512_max_ps(mx, acc[j]);
    __m512 m = _mm512_load_ps(m_g), s = _mm512_load_ps(s_g);
    __mmask16 up = _mm512_cmp_ps_mask(mx, m, _CMP_GT_OQ);
    if (up) {
        __m512 mn = _mm512_mask_mov_ps(m, up, mx);
        s = _mm512_mask_mul_ps(s, up, s, exp16(_mm512_sub_ps(m, mn)));
        m = mn;
        _mm512_store_ps(m_g, m);
    }
    __m512 s0 = _mm512_setzero_ps(), s1 = _mm512_setzero_ps();
    for (int j = 0; j + 1 < nj; j += 2) {
        s0 = _mm512_add_ps(s0, exp16(_mm512_sub_ps(acc[j], m)));
        s1 = _mm512_add_ps(s1, exp16(_mm512_sub_ps(acc[j + 1], m)));
    }
    if (nj & 1) s0 = _mm512_add_ps(s0, exp16(_mm512_sub_ps(acc[nj - 1], m)));
    _mm512_store_ps(s_g, _mm512_add_ps(s, _mm512_add_ps(s0, s1)));
}

/* picked[r] = the logit of row r's target when it falls in this tile's columns [j0, j0 + nj) */
static inline void pick_targets(const __m512 acc[16], const int *tg, int j0, int nj, float *picked) {
    __m512i tv = _mm512_sub_epi32(_mm512_load_si512(tg), _mm512_set1_epi32(j0));
    __mmask16 hit = _mm512_cmplt_epu32_mask(tv, _mm512_set1_epi32(nj));
    while (hit) {
        int i = __builtin_ctz(hit);
        hit &= hit - 1;
        float v[16];
        _mm512_storeu_ps(v, acc[tg[i] - j0]);
        picked[i] = v[i];
    }
}

/* the logits of one group of A against one tile of B, as pst_sgemm_avx512_nt_head computes them */
static inline __attribute__((always_inline)) void head_group(int K, const float *a0, const float *Bt, int ldt,
                                                             const float *pf, __m512 acc[16]) {
    __m512 two[2][16];
    if (ldt == K && K == 128)
        head_tile1_packed(128, a0, Bt, pf, acc);
    else if (ldt == K && K == 768)
        head_tile1_packed(768, a0, Bt, pf, acc);
    else {
        head_tile(K, a0, NULL, Bt, ldt, pf, two);
        for (int j = 0; j < 16; j++) acc[j] = two[0][j];
    }
}

/* Prefetches the 64 bytes at c of min(16, rows) rows ldc apart: the lines, 1-2 a row, that
 * a tile's stores go to, fetched while the tile computes, where each store would otherwise
 * wait for its line from memory. A read prefetch (prefetchw needs PRFCHW, which the
 * portable build does not assume): a line no other core holds arrives exclusive, and the
 * store then owns it at once. Measured on the gradient pass's 132 × 50257 × 128 (logits
 * stored, 2 threads, best of 12, interleaved): 14.7 → 12.6 and 13.5 → 10.3 ms, the same
 * with prefetchw; with one group of rows (a decoding batch of 16) it gained nothing, so it
 * runs from two groups on. */
static inline void prefetch_rows_for_store(const float *c, int ldc, int rows) {
    for (int i = 0; i < 16 && i < rows; i++) {
        _mm_prefetch((const char *)(c + (size_t)i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(c + (size_t)i * ldc + 15), _MM_HINT_T0);
    }
}

/* A tile of logits as it sits in registers (acc[j] = column j0 + j, lanes = the 16 rows
 * of group g) into C grouped (PST_GEMM_LOGITS_GROUPED, base/gemm.h): no transpose. */
static inline void store_tile_grouped(float *C, int N, int g, int j0, const __m512 acc[16]) {
    float *ct = PST_GEMM_GROUPED_ROW(C, g * 16, N) + (size_t)j0 * 16;
    for (int j = 0; j < 16; j++) _mm512_storeu_ps(ct + j * 16, acc[j]);
}

/* Row i's partials of the nc chunks, pm and ps [nc][stride], into chunk_max and chunk_sum [M][nc]. */
static void chunk_partials_out(const float *pm, const float *ps, size_t stride, int nc, int i, float *chunk_max,
                               float *chunk_sum) {
    for (int c = 0; c < nc; c++)
        chunk_max[(size_t)i * nc + c] = pm[(size_t)c * stride + i], chunk_sum[(size_t)i * nc + c] = ps[(size_t)c * stride + i];
}

int pst_sgemm_avx512_nt_head_lse(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                                 const int *targets, float *C, int ldc, float *chunk_max, float *chunk_sum,
                                 float *row_max, float *row_sum, float *picked) {
    if (K > PST_GEMM_HEAD_MAX_K || M < 1 || N < 1 || K < 1) return -1;
    int groups = (M + 15) / 16, tiles = (N + 15) / 16, chunks = PST_GEMM_LSE_CHUNKS(N);
    int grouped = ldc == PST_GEMM_LOGITS_GROUPED;
    size_t rows = (size_t)groups * 16, part = (size_t)chunks * rows;
    float *Ap = aligned_alloc(64, rows * K * sizeof(float));
    float *pm = aligned_alloc(64, 2 * part * sizeof(float)), *ps = pm ? pm + part : NULL;
    int *tg = aligned_alloc(64, rows * sizeof(int));
    float *pk = aligned_alloc(64, rows * sizeof(float));
    int nthreads = omp_in_parallel() || 2.0 * M * N * K < 4e6 ? 1 : omp_get_max_threads();
    float *edges = aligned_alloc(64, (size_t)nthreads * 16 * K * sizeof(float));
    if (!Ap || !pm || !tg || !pk || !edges) {
        free(Ap), free(pm), free(tg), free(pk), free(edges);
        return -1;
    }
    pack_groups_kmajor(A, lda, M, K, 16, Ap);
    for (size_t i = 0; i < rows; i++) tg[i] = i < (size_t)M && targets ? targets[i] : -1, pk[i] = 0.0f;
#pragma omp parallel num_threads(nthreads)
    {
        float *edge = edges + (size_t)omp_get_thread_num() * 16 * K;
#pragma omp for schedule(dynamic, 1)
        for (int c = 0; c < chunks; c++) {
            float *m = pm + (size_t)c * rows, *s = ps + (size_t)c * rows;
            for (size_t i = 0; i < rows; i++) m[i] = -INFINITY, s[i] = 0.0f;
            int t1 = (c + 1) * LSE_TILES < tiles ? (c + 1) * LSE_TILES : tiles;
            for (int t = c * LSE_TILES; t < t1; t++) {
                int j0 = t * 16, nj = N - j0 < 16 ? N - j0 : 16, ldt = ldb;
                const float *Bt = B + (size_t)j0 * ldb;
                if (nj < 16) Bt = edge_tile(edge, Bt, ldb, nj, K), ldt = K;
                const float *pf = t + PST_GEMM_HEAD_PF < t1 - 1 ? B + (size_t)(j0 + 16 * PST_GEMM_HEAD_PF) * ldb : NULL;
                for (int g = 0; g < groups; g++) {
                    __m512 acc[16];
                    if (C && !grouped && groups > 1) /* own the tile's lines of C before they are written */
                        prefetch_rows_for_store(C + (size_t)g * 16 * ldc + j0, ldc, M - g * 16);
                    head_group(K, Ap + (size_t)g * K * 16, Bt, ldt, g == 0 ? pf : NULL, acc);
                    if (nj == 16) lse_tile(acc, 16, m + g * 16, s + g * 16);
                    else lse_tile(acc, nj, m + g * 16, s + g * 16);
                    pick_targets(acc, tg + g * 16, j0, nj, pk + g * 16);
                    if (C && grouped) {
                        store_tile_grouped(C, N, g, j0, acc);
                    } else if (C) { /* the logits too (sampling draws from them) */
                        transpose16(acc); /* acc[i] = row g·16 + i of the tile */
                        __mmask16 cm = lane_mask(nj);
                        for (int i = 0; i < 16 && g * 16 + i < M; i++)
                            _mm512_mask_storeu_ps(C + (size_t)(g * 16 + i) * ldc + j0, cm, acc[i]);
                    }
                }
            }
        }
        /* the chunks merged in order: max_c m_c, Σ_c s_c·e(m_c − max) */
#pragma omp for schedule(static)
        for (int i = 0; i < M; i++) {
            float mx = -INFINITY, sum = 0.0f;
            for (int c = 0; c < chunks; c++) { float v = pm[(size_t)c * rows + i]; mx = v > mx ? v : mx; }
            for (int c = 0; c < chunks; c++) sum += ps[(size_t)c * rows + i] * pst_exp_fast(pm[(size_t)c * rows + i] - mx);
            if (row_max) row_max[i] = mx, row_sum[i] = sum;
            if (picked) picked[i] = pk[i];
            if (chunk_max) chunk_partials_out(pm, ps, rows, chunks, i, chunk_max, chunk_sum);
        }
    }
    free(Ap), free(pm), free(tg), free(pk), free(edges);
    return 0;
}

/* ---- the output layer with bf16 weights -------------------------------------
 * pst_sgemm_avx512_nt_head_bf16: B (wte) in bfloat16, the top half of each fp32, so
 * widening is exact. Per tile of 16 rows of B, in chunks of HC = 128 of the depth: the
 * chunk is widened into a 16 × HC buffer (8 KB, L1) and every group of A meets it as in
 * head_tile1_packed (16 chains), each group's accumulators carried from chunk to chunk.
 * Each element of C is so one chain over k in order, as in the fp32 kernel: C is what
 * pst_sgemm_avx512_nt_head computes on the widened B, and B is read at 2 bytes an element.
 * (A chunk of the depth rather than the whole tile: GPT-2 small's tile, 16 × 768 floats,
 * would fill L1 by itself.) */
enum { HC = 128 };

/* acc[j] (lanes i) += Σ_{k < HC} a[k][i]·wt[j][k]; with pf, a chunk of 16 rows of bf16
 * (HC values each, rows ldb apart) to prefetch, one cache line every other k */
static inline __attribute__((always_inline)) void head_chunk(const float *a, const float *wt, const uint16_t *pf,
                                                             int ldb, __m512 acc[16]) {
    enum { LINES = HC * 2 / 64 }; /* cache lines of a row of the chunk */
    __m512 c[16];
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) c[j] = acc[j];
    for (int k = 0; k < HC; k++) {
        if (pf && k % 2 == 0)
            _mm_prefetch((const char *)(pf + (size_t)(k / 2 / LINES) * ldb + k / 2 % LINES * 32), _MM_HINT_T0);
        __m512 av = _mm512_load_ps(a + (size_t)k * 16);
#pragma GCC unroll 16
        for (int j = 0; j < 16; j++) c[j] = _mm512_fmadd_ps(_mm512_set1_ps(wt[j * HC + k]), av, c[j]);
    }
#pragma GCC unroll 16
    for (int j = 0; j < 16; j++) acc[j] = c[j];
}

int pst_sgemm_avx512_nt_head_bf16(int M, int N, int K, const float *A, int lda, const uint16_t *B16, int ldb,
                                  float *C, int ldc, float *chunk_max, float *chunk_sum) {
    if (K > PST_GEMM_HEAD_MAX_K || (ldc == PST_GEMM_LOGITS_GROUPED && K < 1)) return -1;
    if (trivial_product(M, N, K, 1.0f, 0.0f, C, ldc)) return 0;
    int groups = (M + 15) / 16, Kp = (K + HC - 1) / HC * HC; /* A's depth zero-padded to chunks */
    float *Ap = aligned_alloc(64, (size_t)groups * Kp * 16 * sizeof(float));
    if (!Ap) return -1;
    memset(Ap, 0, (size_t)groups * Kp * 16 * sizeof(float));
    for (int g = 0; g < groups; g++)
        pack_groups_kmajor(A + (size_t)g * 16 * lda, lda, M - g * 16 < 16 ? M - g * 16 : 16, K, 16,
                           Ap + (size_t)g * Kp * 16);
    int tiles = (N + 15) / 16, nc = PST_GEMM_LSE_CHUNKS(N);
    /* with the chunks' partials: the tiles of a chunk on one thread, the chunk's running
     * max and sum per row in pm, ps ([nc][groups·16], as pst_sgemm_avx512_nt_head_lse) */
    float *pm = chunk_max ? aligned_alloc(64, (size_t)2 * nc * groups * 16 * sizeof(float)) : NULL;
    if (chunk_max && !pm) {
        free(Ap);
        return -1;
    }
    int per = chunk_max ? LSE_TILES : 1, units = (tiles + per - 1) / per;
    double flops = 2.0 * M * N * K;
    int nthreads = omp_in_parallel() || flops < 4e6 ? 1 : omp_get_max_threads(), bad = 0;
#pragma omp parallel num_threads(nthreads) reduction(| : bad)
    {
        /* this thread's widened chunk and the accumulators of every group */
        float *wt = aligned_alloc(64, (size_t)16 * HC * sizeof(float));
        __m512 *acc = aligned_alloc(64, (size_t)groups * 16 * sizeof(__m512));
        bad = !wt || !acc;
        /* a thread's tiles in one run (a chunk's, in order, with the partials) */
#pragma omp for schedule(static, per > 1 ? per : (tiles + nthreads - 1) / nthreads)
        for (int t = 0; t < units * per; t++) {
            if (bad || t >= tiles) continue;
            int j0 = t * 16, nj = N - j0 < 16 ? N - j0 : 16;
            float *m = pm ? pm + (size_t)(t / per) * groups * 16 : NULL, *s = m ? m + (size_t)nc * groups * 16 : NULL;
            if (m && t % per == 0)
                for (int u = 0; u < groups * 16; u++) m[u] = -INFINITY, s[u] = 0.0f;
            for (int u = 0; u < groups * 16; u++) acc[u] = _mm512_setzero_ps();
            for (int k0 = 0; k0 < Kp; k0 += HC) {
                int kn = K - k0 < HC ? K - k0 : HC;
                /* the same chunk of the tile PF tiles ahead (16 rows of 2·HC bytes), spread
                 * over the first group's FMAs, or at once when the chunk is short */
                const uint16_t *pf = t + PST_GEMM_HEAD_PF < tiles - 1
                                         ? B16 + (size_t)(j0 + 16 * PST_GEMM_HEAD_PF) * ldb + k0 : NULL;
                if (pf && kn < HC) {
                    for (int j = 0; j < 16; j++)
                        for (int l = 0; l < kn * 2; l += 64)
                            _mm_prefetch((const char *)(pf + (size_t)j * ldb) + l, _MM_HINT_T0);
                    pf = NULL;
                }
                for (int j = 0; j < 16; j++) /* the chunk of the tile, [16][HC]; rows past nj 0 */
                    widen_bf16(wt + (size_t)j * HC, B16 + (size_t)(j0 + (j < nj ? j : 0)) * ldb + k0, j < nj ? kn : 0,
                               HC);
                for (int g = 0; g < groups; g++)
                    head_chunk(Ap + ((size_t)g * Kp + k0) * 16, wt, g == 0 ? pf : NULL, ldb, acc + g * 16);
            }
            __mmask16 cm = lane_mask(nj);
            for (int g = 0; g < groups; g++) {
                if (m && nj == 16) lse_tile(acc + g * 16, 16, m + g * 16, s + g * 16);
                else if (m) lse_tile(acc + g * 16, nj, m + g * 16, s + g * 16);
                if (ldc == PST_GEMM_LOGITS_GROUPED) {
                    store_tile_grouped(C, N, g, j0, acc + g * 16);
                    continue;
                }
                transpose16(acc + g * 16); /* acc[g·16 + i] = row g·16 + i of the tile */
                int mi = M - g * 16 < 16 ? M - g * 16 : 16;
                for (int i = 0; i < mi; i++)
                    _mm512_mask_storeu_ps(C + (size_t)(g * 16 + i) * ldc + j0, cm, acc[g * 16 + i]);
            }
        }
        free(wt);
        free(acc);
    }
    for (int i = 0; pm && i < M; i++)
        chunk_partials_out(pm, pm + (size_t)nc * groups * 16, (size_t)groups * 16, nc, i, chunk_max, chunk_sum);
    free(pm);
    free(Ap);
    return bad ? -1 : 0;
}


/* ---- the FMA probe (base/gemm.h) ------------------------------------------- */

double pst_fma_chains_avx512(long iters) {
    __m512 acc[PST_FMA_CHAINS];
    for (int c = 0; c < PST_FMA_CHAINS; c++) acc[c] = _mm512_set1_ps(1.0f + 0.01f * c);
    const __m512 x = _mm512_set1_ps(0.999999f), y = _mm512_set1_ps(1e-7f);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
        for (int c = 0; c < PST_FMA_CHAINS; c++) acc[c] = _mm512_fmadd_ps(acc[c], x, y);
    }
    __m512 s = acc[0];
    for (int c = 1; c < PST_FMA_CHAINS; c++) s = _mm512_add_ps(s, acc[c]);
    return _mm512_reduce_add_ps(s);
}

#pragma GCC pop_options

#else

double pst_fma_chains_avx512(long iters) { return 0 * (double)iters; }


int pst_sgemm_avx512_small(int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                           int ldb, float beta, float *C, int ldc) {
    return -1;
}

int pst_sgemm_avx512_small_bf16(int M, int N, int K, const float *A, int lda, const uint16_t *B16, int ldb,
                                float beta, float *C, int ldc) {
    return -1;
}

int pst_sgemm_avx512_nt_head(int M, int N, int K, float alpha, const float *A, int lda,
                             const float *B, int ldb, float beta, float *C, int ldc) {
    return -1;
}

int pst_sgemm_avx512_nt_head_bf16(int M, int N, int K, const float *A, int lda, const uint16_t *B16, int ldb,
                                  float *C, int ldc, float *chunk_max, float *chunk_sum) {
    return -1;
}

int pst_sgemm_avx512_nt_head_lse(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                                 const int *targets, float *C, int ldc, float *chunk_max, float *chunk_sum,
                                 float *row_max, float *row_sum, float *picked) {
    return -1;
}

int pst_sgemm_avx512_thin(int trans_a, int trans_b, int M, int N, int K, float alpha,
                          const float *A, int lda, const float *B, int ldb, float beta, float *C,
                          int ldc) {
    return -1;
}

int pst_sgemm_avx512_thin_bf16(int trans_b, int M, int N, int K, const float *A, int lda, const uint16_t *B16,
                               int ldb, float beta, float *C, int ldc) {
    return -1;
}

int pst_sgemm_avx512(int trans_a, int trans_b, int M, int N, int K, float alpha,
                     const float *A, int lda, const float *B, int ldb, float beta, float *C,
                     int ldc) {
    return -1;
}

#endif
