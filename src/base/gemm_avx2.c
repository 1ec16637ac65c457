/* The matrix products for CPUs with AVX2 + FMA but without AVX-512F (AMD Zen 2 and 3,
 * Intel cores without it). Training's products go to a packed kernel (BLIS style, 6 × 16
 * register tiles: packed_team below). Decoding's products have their own: the thin products
 * (M <= PST_GEMM_THIN_MAX rows, one per sequence), the small products (9-64 rows times a
 * weight as stored, small_tile below) and the output layer of a decoding batch (9-64 rows
 * times wteᵀ, head_tile below), each on fp32 or bf16 weights (load_b). A decoding step
 * reads every weight once and multiplies it by a few rows: the product is bound by
 * reading B. OpenBLAS's sgemm copies all of B into packed panels first (B read twice,
 * written once); these kernels stream it once:
 *
 *   B stored [K, N] (a Conv1D weight):  C[i][j] = Σ_k A[i][k]·B[k][j]
 *     thin: the threads split K, each reading its block of B front to back in full rows,
 *     R at a time, into its own accumulators (L2; A's M·R values broadcast), and the
 *     partial sums are added (nn_team); small: 6 × 16 register tiles over 16-column
 *     panels of B, each panel copied once (small_team);
 *   B stored [N, K] (wte, the output layer): C[i][j] = A[i]·B[j]
 *     thin: three rows of B at a time (each contiguous, the three far apart), one
 *     accumulator per (row of A, row of B), summed across lanes at the end; 9-64 rows:
 *     16 × 6 tiles of outer products, with the log-softmax when asked (head_lse).
 *
 * 16 ymm registers (AVX-512 has 32 zmm): the tiles are smaller than there. Compiled for
 * AVX2 + FMA by target pragma (clang: per-file flags), so the build needs no
 * -march=native; base/gemm.c calls it only after pst_cpu_has_avx2_fma(). */
#include "base/gemm.h"
#include "base/exp_fast.h"
#include "posterior/base.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))

#pragma GCC push_options
#pragma GCC target("avx2,fma")
#include <immintrin.h>
#include <omp.h>

/* rows of B prefetched ahead (into L1) by the [N, K] kernel */
#ifndef PST_GEMM_AVX2_PF
#define PST_GEMM_AVX2_PF 1
#endif

/* lanes 0 .. n-1 set (n clamped to 0..8), for maskload */
static inline __m256i lanes(int n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline void store_c(float *c, float v, float alpha, float beta) {
    float r = alpha * v;
    *c = beta == 0.0f ? r : fmaf(beta, *c, r);
}

/* c[0 .. n) = alpha·v + beta·c (n >= 8: all 8; beta 0: c not read) */
static inline __attribute__((always_inline)) void store_vec(float *c, __m256 v, int n, float alpha, float beta) {
    __m256 r = _mm256_mul_ps(_mm256_set1_ps(alpha), v);
    if (n >= 8) {
        if (beta != 0.0f) r = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_loadu_ps(c), r);
        _mm256_storeu_ps(c, r);
    } else if (n > 0) {
        __m256i m = lanes(n);
        if (beta != 0.0f) r = _mm256_fmadd_ps(_mm256_set1_ps(beta), _mm256_maskload_ps(c, m), r);
        _mm256_maskstore_ps(c, m, r);
    }
}

/* The thin kernels read B in fp32 or, with h (half) set, in bf16 (the top 16 bits of an
 * fp32: prior/bf16_kernels.h), widened exactly just before its FMAs: the same sums of the
 * same numbers, at half the bytes read. B and indices count elements. */
static inline __attribute__((always_inline)) __m256 load_b(const void *B, size_t at, const int h) {
    if (!h) return _mm256_loadu_ps((const float *)B + at);
    __m128i x = _mm_loadu_si128((const __m128i *)((const uint16_t *)B + at));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(x), 16));
}

/* the first n (0 < n < 8) of them, zeros after */
static inline __attribute__((always_inline)) __m256 load_b_part(const void *B, size_t at, int n, const int h) {
    if (!h) return _mm256_maskload_ps((const float *)B + at, lanes(n));
    uint16_t part[8] = {0};
    memcpy(part, (const uint16_t *)B + at, (size_t)n * sizeof(uint16_t));
    return load_b(part, 0, 1);
}

static inline __attribute__((always_inline)) void prefetch_b(const void *B, size_t at, const int h) {
    _mm_prefetch((const char *)B + at * (h ? 2 : 4), _MM_HINT_T0);
}

/* B [N, K]: for mi (<= 4) rows of Ab (zero-padded to Kp, a multiple of 8) and nb (<= 3)
 * rows of B, j + r·rs for r < nb: C[i][j + r·rs] = Ab[i]·B[j + r·rs], one accumulator per
 * (row of A, row of B) over k, summed across lanes at the end. Each 8 values of A are
 * loaded once for the nb rows of B, with mi·nb chains of FMAs in flight. The rows are
 * rs apart, not adjacent: each is then a sequential stream in its own pages, which the
 * hardware prefetcher follows (adjacent rows, interleaved within a page, read 15-25%
 * slower: docs/benchmarks.md). A step reads 16 values of each row and fetches a cache
 * line of the rows PST_GEMM_AVX2_PF ahead (bf16: every other step, a line holding 32). */
static inline __attribute__((always_inline)) void nt_step(const int mi, const int nb, const int h, const float *Ab,
                                                          int Kp, int k, const void *B, size_t b, size_t R, int K,
                                                          __m256 acc[4][3]) {
    __m256 v[3];
    for (int r = 0; r < nb; r++)
        v[r] = k + 8 <= K ? load_b(B, b + r * R + k, h) : load_b_part(B, b + r * R + k, K - k, h);
    for (int i = 0; i < mi; i++) {
        __m256 a = _mm256_load_ps(Ab + (size_t)i * Kp + k);
        for (int r = 0; r < nb; r++) acc[i][r] = _mm256_fmadd_ps(a, v[r], acc[i][r]);
    }
}

static inline __attribute__((always_inline)) void nt_rows(const int mi, const int nb, const int h, int j, int rs, int K,
                                                          int Kp, const float *Ab, const void *B, int ldb,
                                                          float alpha, float beta, float *C, int ldc) {
    const size_t R = (size_t)rs * ldb, b = (size_t)j * ldb, ahead = b + PST_GEMM_AVX2_PF * (size_t)ldb;
    __m256 acc[4][3];
    for (int i = 0; i < mi; i++)
        for (int r = 0; r < nb; r++) acc[i][r] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        if (!h || k % 32 == 0)
            for (int r = 0; r < nb; r++) prefetch_b(B, ahead + r * R + k, h);
        nt_step(mi, nb, h, Ab, Kp, k, B, b, R, K, acc);
        nt_step(mi, nb, h, Ab, Kp, k + 8, B, b, R, K, acc);
    }
    for (; k < Kp; k += 8) nt_step(mi, nb, h, Ab, Kp, k, B, b, R, K, acc);
    for (int i = 0; i < mi; i++)
        for (int r = 0; r < nb; r++) store_c(C + (size_t)i * ldc + j + r * rs, hsum(acc[i][r]), alpha, beta);
}

/* columns j0 .. j1 of C (a chunk of at most NT_CHUNK): three rows of B a pass, a third of
 * the span apart, then the one or two left */
enum { NT_CHUNK = 120 };
static inline __attribute__((always_inline)) void nt_span(const int mi, const int h, int j0, int j1, int K, int Kp,
                                                          const float *Ab, const void *B, int ldb, float alpha,
                                                          float beta, float *C, int ldc) {
    int rs = (j1 - j0) / 3;
    for (int j = j0; j < j0 + rs; j++) nt_rows(mi, 3, h, j, rs, K, Kp, Ab, B, ldb, alpha, beta, C, ldc);
    for (int j = j0 + 3 * rs; j < j1; j++) nt_rows(mi, 1, h, j, 1, K, Kp, Ab, B, ldb, alpha, beta, C, ldc);
}

static void nt_cols(int mi, int h, int j0, int j1, int K, int Kp, const float *Ab, const void *B, int ldb,
                    float alpha, float beta, float *C, int ldc) {
#define NT_ROWS(m, h) nt_span(m, h, j0, j1, K, Kp, Ab, B, ldb, alpha, beta, C, ldc)
    switch (mi + 4 * h) {
    case 1: NT_ROWS(1, 0); break;
    case 2: NT_ROWS(2, 0); break;
    case 3: NT_ROWS(3, 0); break;
    case 4: NT_ROWS(4, 0); break;
    case 5: NT_ROWS(1, 1); break;
    case 6: NT_ROWS(2, 1); break;
    case 7: NT_ROWS(3, 1); break;
    default: NT_ROWS(4, 1); break;
    }
#undef NT_ROWS
}

/* B [N, K] with 9-64 rows of A (the output layer while decoding a batch): A packed in
 * groups of 16 rows, k-major (Ap[g][k][0..15], rows past M zero), and a tile of 16 rows ×
 * HT columns of C held transposed in registers, two ymm (16 rows) per column:
 *   acc[h][c] += broadcast(B[j+c][k]) · Ap[g][k][8h .. 8h+7]
 * per k 2 loads of A, HT broadcasts of B and 2·HT FMAs, no sum across lanes; each tile's
 * HT rows of B are read from memory once (by the first group, from L1 after) while the
 * next tile's are prefetched. */
enum { HT = 6 }; /* columns of a tile: 12 accumulators + 2 of A + a broadcast of 16 ymm */

/* acc[.][c] += B[c][k]·(a0, a1) for the tile's nc rows of B: rows 3q .. 3q + 2 at q3[q] +
 * {0, L, 2L} (base + index addressing: 2 pointers and one stride, not 6 pointers) */
static inline __attribute__((always_inline)) void tile_k(const int nc, const float *const q3[2], size_t L, __m256 a0,
                                                         __m256 a1, __m256 acc[2][HT]) {
    for (int c = 0; c < nc; c++) {
        __m256 bc = _mm256_broadcast_ss(q3[c / 3] + (size_t)(c % 3) * L);
        acc[0][c] = _mm256_fmadd_ps(bc, a0, acc[0][c]);
        acc[1][c] = _mm256_fmadd_ps(bc, a1, acc[1][c]);
    }
}

/* acc = one group's 16 rows (a: Ap[g]) times the nc rows of B from b, over k < K; with
 * `prefetch`, the next tile's rows, a line each every 16 k (a prefetch never faults) */
static inline __attribute__((always_inline)) void tile_acc(const int nc, const float *a, int K, const float *b, size_t L,
                                                           int prefetch, __m256 acc[2][HT]) {
    for (int c = 0; c < nc; c++) acc[0][c] = acc[1][c] = _mm256_setzero_ps();
    const float *q3[2] = {b, b + 3 * L};
    int k = 0;
    for (; k + 16 <= K; k += 16) {
        if (prefetch)
            for (int c = 0; c < nc; c++) _mm_prefetch((const char *)(b + (HT + c) * L + k), _MM_HINT_T0);
#pragma GCC unroll 4 /* one k an iteration ran the loop at ~74% of the FMA peak, four at ~82% */
        for (int kk = 0; kk < 16; kk++) {
            const float *ak = a + (size_t)(k + kk) * 16;
            tile_k(nc, q3, L, _mm256_load_ps(ak), _mm256_load_ps(ak + 8), acc);
            q3[0]++, q3[1]++;
        }
    }
    for (; k < K; k++) {
        tile_k(nc, q3, L, _mm256_load_ps(a + (size_t)k * 16), _mm256_load_ps(a + (size_t)k * 16 + 8), acc);
        q3[0]++, q3[1]++;
    }
}

static inline __attribute__((always_inline)) void head_tile(const int nc, const float *Ap, int K, int groups, int M,
                                                            const float *B, int ldb, int j, float alpha, float beta,
                                                            float *C, int ldc) {
    const size_t L = (size_t)ldb;
    for (int g = 0; g < groups; g++) {
        __m256 acc[2][HT];
        tile_acc(nc, Ap + (size_t)g * K * 16, K, B + (size_t)j * L, L, g == 0, acc);
        float t[2][HT][8] __attribute__((aligned(32)));
        for (int c = 0; c < nc; c++) _mm256_store_ps(t[0][c], acc[0][c]), _mm256_store_ps(t[1][c], acc[1][c]);
        int rows = M - g * 16 < 16 ? M - g * 16 : 16;
        for (int i = 0; i < rows; i++)
            for (int c = 0; c < nc; c++)
                store_c(C + (size_t)(g * 16 + i) * ldc + j + c, t[i / 8][c][i % 8], alpha, beta);
    }
}

/* columns j0 .. j1 of C: whole tiles, then the rest one column a tile */
static void head_cols(const float *Ap, int K, int M, int j0, int j1, const float *B, int ldb, float alpha,
                      float beta, float *C, int ldc) {
    int groups = (M + 15) / 16, j = j0;
    for (; j + HT <= j1; j += HT) head_tile(HT, Ap, K, groups, M, B, ldb, j, alpha, beta, C, ldc);
    for (; j < j1; j++) head_tile(1, Ap, K, groups, M, B, ldb, j, alpha, beta, C, ldc);
}

/* ---- the output layer with its log-softmax (scoring) --------------------------
 * pst_sgemm_avx2_nt_head_lse: the 16 × 6 tiles above, each used where it sits, in
 * registers: per row a running maximum m and sum s, s rescaled by e(m − m') when the
 * maximum grows; each chunk of PST_GEMM_LSE_COLS columns summed by one thread and the
 * chunks merged in order (the result does not depend on the threads), as
 * pst_sgemm_avx512_nt_head_lse does with its 16 × 16 tiles. */

/* pst_exp_fast on 8 lanes with explicit FMAs (within an ulp of it, as the AVX-512 kernel's
 * exp16); inputs are logits minus a running maximum, ≤ 0 or NaN: the clamp is max(−87, x) */
static inline __attribute__((always_inline)) __m256 exp8(__m256 x) {
    x = _mm256_max_ps(_mm256_set1_ps(-87.0f), x);
    __m256 t = _mm256_fmadd_ps(x, _mm256_set1_ps(PST_EXP_LOG2E), _mm256_set1_ps(PST_EXP_SHIFTER));
    __m256 n = _mm256_sub_ps(t, _mm256_set1_ps(PST_EXP_SHIFTER));
    __m256 r = _mm256_fmadd_ps(n, _mm256_set1_ps(PST_EXP_LN2_LO), _mm256_fnmadd_ps(n, _mm256_set1_ps(PST_EXP_LN2_HI), x));
    __m256 p = _mm256_set1_ps(PST_EXP_P0);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(PST_EXP_P1));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(PST_EXP_P2));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(PST_EXP_P3));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(PST_EXP_P4));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(PST_EXP_P5));
    p = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(p, r), r, r), _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_sub_epi32(_mm256_castps_si256(t), _mm256_set1_epi32(0x4B400000)),
                                                   _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

/* 8 rows' running max m and sum s (m_g, s_g) with columns acc[0..nc):
 * m' = max(m, max_c acc[c]); s = s·e(m − m') + Σ_c e(acc[c] − m') */
static inline __attribute__((always_inline)) void lse_rows8(const int nc, const __m256 *acc, float *m_g, float *s_g) {
    __m256 mx = acc[0];
    for (int c = 1; c < nc; c++) mx = _mm256_max_ps(mx, acc[c]);
    __m256 m = _mm256_load_ps(m_g), s = _mm256_load_ps(s_g);
    __m256 up = _mm256_cmp_ps(mx, m, _CMP_GT_OQ);
    if (!_mm256_testz_ps(up, up)) {
        __m256 mn = _mm256_blendv_ps(m, mx, up);
        s = _mm256_blendv_ps(s, _mm256_mul_ps(s, exp8(_mm256_sub_ps(m, mn))), up);
        m = mn;
        _mm256_store_ps(m_g, m);
    }
    __m256 s0 = _mm256_setzero_ps(), s1 = _mm256_setzero_ps();
    for (int c = 0; c + 1 < nc; c += 2) {
        s0 = _mm256_add_ps(s0, exp8(_mm256_sub_ps(acc[c], m)));
        s1 = _mm256_add_ps(s1, exp8(_mm256_sub_ps(acc[c + 1], m)));
    }
    if (nc & 1) s0 = _mm256_add_ps(s0, exp8(_mm256_sub_ps(acc[nc - 1], m)));
    _mm256_store_ps(s_g, _mm256_add_ps(s, _mm256_add_ps(s0, s1)));
}

/* A tile's 16 rows (acc[h]: rows 8h .. 8h + 7) into their running max and sum, out of
 * line: inlined into the tile's loop, which holds 12 accumulators, the exponentials spilled
 * to the stack (~27% of the output layer's time at K = 128 went there) */
static __attribute__((noinline)) void lse_rows16_tile(const __m256 *acc, float *m_g, float *s_g) {
    lse_rows8(HT, acc, m_g, s_g);
    lse_rows8(HT, acc + HT, m_g + 8, s_g + 8);
}
static __attribute__((noinline)) void lse_rows16_col(const __m256 *acc, float *m_g, float *s_g) {
    lse_rows8(1, acc, m_g, s_g);
    lse_rows8(1, acc + HT, m_g + 8, s_g + 8);
}
static inline __attribute__((always_inline)) void lse_rows16(const int nc, __m256 acc[2][HT], float *m_g, float *s_g) {
    __m256 t[2 * HT];
    for (int c = 0; c < nc; c++) t[c] = acc[0][c], t[HT + c] = acc[1][c];
    if (nc == HT) lse_rows16_tile(t, m_g, s_g);
    else lse_rows16_col(t, m_g, s_g);
}

/* Whether any of a group's 16 targets tg[0..16) is a column j .. j + nc − 1 (rows
 * without a target hold −1): j − 1 < tg < j + nc, 8 rows a compare */
static inline int targets_here(const int *tg, int j, int nc) {
    __m256i lo = _mm256_set1_epi32(j - 1), hi = _mm256_set1_epi32(j + nc);
    __m256i t0 = _mm256_loadu_si256((const __m256i *)tg), t1 = _mm256_loadu_si256((const __m256i *)(tg + 8));
    __m256i in0 = _mm256_and_si256(_mm256_cmpgt_epi32(t0, lo), _mm256_cmpgt_epi32(hi, t0));
    __m256i in1 = _mm256_and_si256(_mm256_cmpgt_epi32(t1, lo), _mm256_cmpgt_epi32(hi, t1));
    __m256i any = _mm256_or_si256(in0, in1);
    return !_mm256_testz_si256(any, any);
}

/* One tile (columns j .. j + nc) of group g, its rows of B at b (row stride lb): its
 * logits into the chunk's m, s, the targets' logits into pk, and into C when C is not
 * NULL: row-major, or grouped (ldc = PST_GEMM_LOGITS_GROUPED: a group's column of 16
 * rows is 16 floats, gn columns a group); with `prefetch`, the next tile's rows fetched */
static inline __attribute__((always_inline)) void lse_group(const int nc, int g, const float *Ap, int K, int M,
                                                            const float *b, size_t lb, int prefetch, int j,
                                                            const int *tg, float *m, float *s, float *pk, float *C,
                                                            int ldc, size_t gn) {
    __m256 acc[2][HT];
    tile_acc(nc, Ap + (size_t)g * K * 16, K, b, lb, prefetch, acc);
    lse_rows16(nc, acc, m + g * 16, s + g * 16);
    if (C && ldc == PST_GEMM_LOGITS_GROUPED) {
        float *cg = C + (size_t)g * 16 * gn + (size_t)16 * j;
        for (int c = 0; c < nc; c++) _mm256_storeu_ps(cg + 16 * c, acc[0][c]), _mm256_storeu_ps(cg + 16 * c + 8, acc[1][c]);
    }
    int row_major = C && ldc != PST_GEMM_LOGITS_GROUPED;
    if (!row_major && !targets_here(tg + g * 16, j, nc)) return;
    float t[2][HT][8] __attribute__((aligned(32)));
    for (int c = 0; c < nc; c++) _mm256_store_ps(t[0][c], acc[0][c]), _mm256_store_ps(t[1][c], acc[1][c]);
    int rows = M - g * 16 < 16 ? M - g * 16 : 16;
    for (int i = 0; i < rows; i++) {
        unsigned hit = (unsigned)(tg[g * 16 + i] - j);
        if (hit < (unsigned)nc) pk[g * 16 + i] = t[i / 8][hit][i % 8];
        if (row_major)
            for (int c = 0; c < nc; c++) C[(size_t)(g * 16 + i) * ldc + j + c] = t[i / 8][c][i % 8];
    }
}

/* One tile (columns j .. j + nc) of every group (lse_group); bf16 rows of B are widened
 * into wb (L1) first, and the next tile's fetched */
static inline __attribute__((always_inline)) void lse_tile(const int nc, const float *Ap, int K, int groups, int M,
                                                           const void *B, int h, int ldb, int j, const int *tg,
                                                           float *m, float *s, float *pk, float *C, int ldc, size_t gn,
                                                           float *wb) {
    const size_t L = (size_t)ldb;
    size_t kw = (size_t)(K + 7) / 8 * 8; /* wb's rows: K rounded up to whole vectors */
    if (h) {
        const uint16_t *b16 = (const uint16_t *)B + (size_t)j * L;
        for (int c = 0; c < nc; c++) {
            for (int k = 0; k < K; k += 8) {
                if (k % 32 == 0) prefetch_b(b16, (size_t)(HT + c) * L + k, 1);
                _mm256_store_ps(wb + c * kw + k, k + 8 <= K ? load_b(b16, (size_t)c * L + k, 1)
                                                            : load_b_part(b16, (size_t)c * L + k, K - k, 1));
            }
        }
    }
    const float *b = h ? wb : (const float *)B + (size_t)j * L;
    for (int g = 0; g < groups; g++)
        lse_group(nc, g, Ap, K, M, b, h ? kw : L, g == 0 && !h, j, tg, m, s, pk, C, ldc, gn);
}

/* fp32 B with several groups: LSE_TB tiles (columns j .. j + LSE_TB·HT) a group at a time,
 * so that each group's rows of A are read from L2 once for LSE_TB tiles, not once a tile
 * (GPT-2 small scoring 512 rows: A is 1.5 MB, past L2). Each row still sees its tiles in
 * order: the same bits as tile by tile. */
enum { LSE_TB = 4 };
static inline __attribute__((always_inline)) void lse_block(const float *Ap, int K, int groups, int M, const float *B,
                                                            int ldb, int j, const int *tg, float *m, float *s,
                                                            float *pk, float *C, int ldc, size_t gn) {
    for (int g = 0; g < groups; g++)
        for (int t = 0; t < LSE_TB; t++) {
            int jt = j + t * HT;
            lse_group(HT, g, Ap, K, M, B + (size_t)jt * ldb, (size_t)ldb, g == 0, jt, tg, m, s, pk, C, ldc, gn);
        }
}

/* pst_sgemm_avx2_nt_head_lse, with B in bf16 when h. Not inlined: its OpenMP regions must
 * belong to a function nm lists (tests/build/test_no_avx512.sh). */
static __attribute__((noinline)) int head_lse(int M, int N, int K, const float *A, int lda, const void *B, int h,
                                              int ldb, const int *targets, float *C, int ldc, float *chunk_max,
                                              float *chunk_sum, float *row_max, float *row_sum, float *picked) {
    if (K > PST_GEMM_HEAD_MAX_K || M < 1 || N < 1 || K < 1) return -1;
    size_t gn = PST_GEMM_GROUPED_N(N);
    int groups = (M + 15) / 16, chunks = PST_GEMM_LSE_CHUNKS(N);
    size_t rows = (size_t)groups * 16, part = (size_t)chunks * rows;
    float *Ap = aligned_alloc(32, rows * K * sizeof(float)), *pm = aligned_alloc(32, 2 * part * sizeof(float));
    int *tg = malloc(rows * sizeof(int));
    float *pk = malloc(rows * sizeof(float));
    if (!Ap || !pm || !tg || !pk) {
        free(Ap), free(pm), free(tg), free(pk);
        return -1;
    }
    float *ps = pm + part;
    for (int g = 0; g < groups; g++) /* A in groups of 16 rows, k-major, rows past M zero */
        for (int k = 0; k < K; k++)
            for (int i = 0; i < 16; i++)
                Ap[((size_t)g * K + k) * 16 + i] = g * 16 + i < M ? A[(size_t)(g * 16 + i) * lda + k] : 0.0f;
    for (size_t i = 0; i < rows; i++) tg[i] = i < (size_t)M && targets ? targets[i] : -1, pk[i] = 0.0f;
    int nthreads = omp_in_parallel() || 2.0 * M * N * K < 4e6 ? 1 : omp_get_max_threads();
#pragma omp parallel num_threads(nthreads)
    {
        float wb[HT * PST_GEMM_HEAD_MAX_K] __attribute__((aligned(32))); /* a tile's rows of B widened */
#pragma omp for schedule(dynamic, 1)
        for (int c = 0; c < chunks; c++) {
            float *m = pm + (size_t)c * rows, *s = ps + (size_t)c * rows;
            for (size_t i = 0; i < rows; i++) m[i] = -INFINITY, s[i] = 0.0f;
            int j = c * PST_GEMM_LSE_COLS, j1 = j + PST_GEMM_LSE_COLS < N ? j + PST_GEMM_LSE_COLS : N;
            if (!h && groups > 1)
                for (; j + LSE_TB * HT <= j1; j += LSE_TB * HT)
                    lse_block(Ap, K, groups, M, B, ldb, j, tg, m, s, pk, C, ldc, gn);
            for (; j + HT <= j1; j += HT) lse_tile(HT, Ap, K, groups, M, B, h, ldb, j, tg, m, s, pk, C, ldc, gn, wb);
            for (; j < j1; j++) lse_tile(1, Ap, K, groups, M, B, h, ldb, j, tg, m, s, pk, C, ldc, gn, wb);
        }
        if (C && ldc == PST_GEMM_LOGITS_GROUPED) /* the padding columns */
#pragma omp for schedule(static)
            for (int g = 0; g < groups; g++)
                memset(C + (size_t)g * 16 * gn + (size_t)16 * N, 0, (gn - N) * 16 * sizeof(float));
        /* the chunks merged in order: max_c m_c, Σ_c s_c·e(m_c − max) */
#pragma omp for schedule(static)
        for (int i = 0; i < M; i++) {
            float mx = -INFINITY, sum = 0.0f;
            for (int c = 0; c < chunks; c++) mx = pm[(size_t)c * rows + i] > mx ? pm[(size_t)c * rows + i] : mx;
            for (int c = 0; c < chunks; c++) sum += ps[(size_t)c * rows + i] * pst_exp_fast(pm[(size_t)c * rows + i] - mx);
            if (row_max) row_max[i] = mx, row_sum[i] = sum;
            if (picked) picked[i] = pk[i];
            if (chunk_max)
                for (int c = 0; c < chunks; c++)
                    chunk_max[(size_t)i * chunks + c] = pm[(size_t)c * rows + i],
                    chunk_sum[(size_t)i * chunks + c] = ps[(size_t)c * rows + i];
        }
    }
    free(Ap), free(pm), free(tg), free(pk);
    return 0;
}

int pst_sgemm_avx2_nt_head_lse(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                               const int *targets, float *C, int ldc, float *chunk_max, float *chunk_sum,
                               float *row_max, float *row_sum, float *picked) {
    return head_lse(M, N, K, A, lda, B, 0, ldb, targets, C, ldc, chunk_max, chunk_sum, row_max, row_sum, picked);
}

int pst_sgemm_avx2_nt_head_bf16(int M, int N, int K, const float *A, int lda, const uint16_t *B16, int ldb, float *C,
                                int ldc, float *chunk_max, float *chunk_sum) {
    return head_lse(M, N, K, A, lda, B16, 1, ldb, NULL, C, ldc, chunk_max, chunk_sum, NULL, NULL, NULL);
}

/* B [K, N]: a thread's accumulators for a chunk of cw columns, row i at acc + i·ld with
 * ld = NN_LD(cw): padded by 24 floats, so that rows are not a multiple of 4 KB apart
 * (a load from one row after a store to another would then wait on the store: 4K aliasing) */
#define NN_ACC 16384                                  /* floats: 64 KB a thread, in L2 */
#define NN_LD(cw) (((cw) + 7) / 8 * 8 + 24)
#define NN_CW_MAX(M) ((NN_ACC / (M) - 24) / 8 * 8)    /* the widest chunk */
#define NN_R(M) ((M) <= 4 ? 4 : 2)           /* rows of B a pass */
#define NN_SHARES 8                          /* at most this many threads split K */

/* One pass: acc[i][j..j+7] += Σ_{r<R} A[i][k+r]·B[k+r][j..j+7] over the chunk's cw
 * columns; w is the element of B at row k, column c0. The next pass's rows are
 * prefetched (to L1) when `prefetch`. */
static inline __attribute__((always_inline)) void nn_pass(const int M, const int R, const int h, int cw, const void *B,
                                                          size_t w, size_t N, const float *Ab, int Kp, int k,
                                                          int prefetch, float *acc, int ld) {
    __m256 x[8][4];
    for (int i = 0; i < M; i++)
        for (int r = 0; r < R; r++) x[i][r] = _mm256_broadcast_ss(Ab + (size_t)i * Kp + k + r);
    for (int j = 0; j < cw; j += 8) {
        __m256 b[4];
        if (j + 8 <= cw)
            for (int r = 0; r < R; r++) b[r] = load_b(B, w + r * N + j, h);
        else
            for (int r = 0; r < R; r++) b[r] = load_b_part(B, w + r * N + j, cw - j, h);
        if (prefetch && j % (h ? 32 : 16) == 0) /* a cache line */
            for (int r = 0; r < R; r++) prefetch_b(B, w + (R + r) * N + j, h);
        for (int i = 0; i < M; i++) {
            __m256 a = _mm256_load_ps(acc + i * ld + j);
            for (int r = 0; r < R; r++) a = _mm256_fmadd_ps(x[i][r], b[r], a);
            _mm256_store_ps(acc + i * ld + j, a);
        }
    }
}

/* acc = Σ_{k0 <= k < k1} A[., k]·B[k][c0 .. c0 + cw) for all M rows */
static inline __attribute__((always_inline)) void nn_rows(const int M, const int h, int k0, int k1, int c0, int cw,
                                                          const float *Ab, int Kp, const void *B, int ldb,
                                                          float *acc) {
    const int R = NN_R(M);
    size_t N = (size_t)ldb;
    int ld = NN_LD(cw);
    for (int i = 0; i < M; i++) memset(acc + i * ld, 0, (size_t)(cw + 7) / 8 * 8 * sizeof(float));
    int k = k0;
    for (; k + R <= k1; k += R) nn_pass(M, R, h, cw, B, (size_t)k * N + c0, N, Ab, Kp, k, k + 2 * R <= k1, acc, ld);
    for (; k < k1; k++) nn_pass(M, 1, h, cw, B, (size_t)k * N + c0, N, Ab, Kp, k, 0, acc, ld);
}

static void nn_share(int M, int h, int k0, int k1, int c0, int cw, const float *Ab, int Kp, const void *B, int ldb,
                     float *acc) {
#define NN_ROWS(m) (h ? nn_rows(m, 1, k0, k1, c0, cw, Ab, Kp, B, ldb, acc) : nn_rows(m, 0, k0, k1, c0, cw, Ab, Kp, B, ldb, acc))
    switch (M) {
    case 1: NN_ROWS(1); break;
    case 2: NN_ROWS(2); break;
    case 3: NN_ROWS(3); break;
    case 4: NN_ROWS(4); break;
    case 5: NN_ROWS(5); break;
    case 6: NN_ROWS(6); break;
    case 7: NN_ROWS(7); break;
    default: NN_ROWS(8); break;
    }
#undef NN_ROWS
}

/* B [K, N] on `team` threads, as shares × groups: the thread (s, g) sums share s of
 * the rows of B (a contiguous block of memory, read front to back in full-width rows,
 * which the hardware prefetcher follows: a share of the columns instead would be short
 * segments a row apart) over group g's columns into its own accumulators, a chunk of
 * columns at a time; then the group's threads add the shares' partial sums into C,
 * each a slice of the chunk: C = alpha·Σ_s acc_s + beta·C. Not inlined: its OpenMP
 * region (nn_team._omp_fn.0) must belong to a function that nm lists for this file
 * (tests/build/test_no_avx512.sh). */
static __attribute__((noinline)) void nn_team(int M, int h, int N, int K, int Kp, const float *Ab, const void *B,
                                              int ldb, float alpha, float beta, float *C, int ldc, int team) {
    float *parts[team];
#pragma omp parallel num_threads(team)
    {
        float acc[NN_ACC] __attribute__((aligned(32)));
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int shares = nt < NN_SHARES ? nt : NN_SHARES;
        if (shares > K / 32) shares = K / 32 > 1 ? K / 32 : 1;
        int groups = nt / shares, s = t % shares, g = t / shares; /* threads past shares·groups idle */
        int gw = ((N + groups - 1) / groups + 7) / 8 * 8, kw = ((K + shares - 1) / shares + 3) / 4 * 4;
        int chunks = (gw + NN_CW_MAX(M) - 1) / NN_CW_MAX(M), cw = ((gw + chunks - 1) / chunks + 7) / 8 * 8;
        int k0 = s * kw < K ? s * kw : K, k1 = k0 + kw < K ? k0 + kw : K;
        parts[t] = acc;
        for (int c = 0; c < chunks; c++) {
            int j0 = g * gw + c * cw, j1 = j0 + cw < (g + 1) * gw ? j0 + cw : (g + 1) * gw;
            if (j1 > N) j1 = N;
            int w = g < groups && j0 < j1 ? j1 - j0 : 0;
            if (w > 0) nn_share(M, h, k0, k1, j0, w, Ab, Kp, B, ldb, acc);
#pragma omp barrier
            int per = ((w + shares - 1) / shares + 7) / 8 * 8, r0 = s * per, r1 = r0 + per < w ? r0 + per : w;
            for (int i = 0; i < M && w > 0; i++)
                for (int j = r0; j < r1; j += 8) { /* r0: a multiple of 8, as the rows of acc */
                    __m256 sum = _mm256_setzero_ps();
                    for (int u = 0; u < shares; u++)
                        sum = _mm256_add_ps(sum, _mm256_load_ps(parts[g * shares + u] + i * NN_LD(w) + j));
                    store_vec(C + (size_t)i * ldc + j0 + j, sum, r1 - j, alpha, beta);
                }
#pragma omp barrier
        }
    }
}

/* B [K, N] with 9-64 rows of A (a decoding batch times a weight matrix: the small
 * products): tiles of SR rows × 16 columns of C in 12 ymm, per k 2 loads of B, SR
 * broadcasts of A and 2·SR FMAs, over all of K. A panel of B (K rows × 16 columns) is
 * read once, by the first block of rows, which copies it, widened, into P (K × 16
 * floats, contiguous); the other blocks read P from L2. Each block fetches its share of
 * the next panel's rows (a line a row: K streams are more than the hardware prefetcher
 * follows), so that the fetches spread over the panel's time. (Read in place by every
 * block, the panel's rows, ldb·4 bytes apart, fall into a few cache sets: GPT-2's 768
 * rows of 3 or 9 KB; 16 x 2304 x 768, 16 x 768 x 3072 and 64 x 768 x 768 ran at 84, 64
 * and 95 GFLOP/s median, warm, against 145, 129 and 178 with the copy.) */
enum { SR = 6 };

static inline __attribute__((always_inline)) void small_tile(const int mi, const int h, const int from_p, const int full,
                                                             int nc, const float *A, int lda, int K, const void *B,
                                                             size_t ldb, size_t j, int fetch_of, int fetch_b, float *P,
                                                             float alpha, float beta, float *C, int ldc) {
    __m256 acc0[SR], acc1[SR]; /* columns j .. j + 7, j + 8 .. j + 15 */
#pragma GCC unroll 6
    for (int i = 0; i < mi; i++) acc0[i] = acc1[i] = _mm256_setzero_ps();
    /* the next panel's line of rows span·fetch_b .. span·(fetch_b + 1), one every fetch_of k */
    int span = fetch_of ? (K + fetch_of - 1) / fetch_of : 0, row = span * fetch_b, end = row + span, countdown = 1;
    if (end > K) end = K;
    size_t next = j + (h ? 32 : 16);
    for (int k = 0; k < K; k++) {
        if (fetch_of && --countdown == 0) {
            countdown = fetch_of;
            if (row < end) prefetch_b(B, (size_t)row++ * ldb + next, h);
        }
        __m256 b0, b1;
        if (from_p) {
            b0 = _mm256_load_ps(P + (size_t)k * 16), b1 = _mm256_load_ps(P + (size_t)k * 16 + 8);
        } else {
            size_t at = (size_t)k * ldb + j;
            if (full) {
                b0 = load_b(B, at, h), b1 = load_b(B, at + 8, h);
            } else {
                b0 = nc >= 8 ? load_b(B, at, h) : load_b_part(B, at, nc, h);
                b1 = nc > 8 ? load_b_part(B, at + 8, nc - 8, h) : _mm256_setzero_ps();
            }
            _mm256_store_ps(P + (size_t)k * 16, b0), _mm256_store_ps(P + (size_t)k * 16 + 8, b1);
        }
#pragma GCC unroll 6
        for (int i = 0; i < mi; i++) {
            __m256 a = _mm256_broadcast_ss(A + (size_t)i * lda + k);
            acc0[i] = _mm256_fmadd_ps(a, b0, acc0[i]);
            acc1[i] = _mm256_fmadd_ps(a, b1, acc1[i]);
        }
    }
#pragma GCC unroll 6
    for (int i = 0; i < mi; i++) {
        float *c = C + (size_t)i * ldc + j;
        store_vec(c, acc0[i], full ? 8 : nc, alpha, beta);
        store_vec(c + 8, acc1[i], full ? 8 : nc - 8, alpha, beta);
    }
}

/* mi (<= SR) rows of C, columns j .. j + nc (nc <= 16): from B (and into P), or from P;
 * block fetch_b of fetch_of fetches its share of the next panel (fetch_of 0: none) */
static void small_block(int mi, int h, int from_p, int nc, const float *A, int lda, int K, const void *B,
                        size_t ldb, size_t j, int fetch_of, int fetch_b, float *P, float alpha, float beta, float *C,
                        int ldc) {
#define SMALL_TILE(m, hh, fp, f)                                                                                  \
    small_tile(m, hh, fp, f, nc, A, lda, K, B, ldb, j, fetch_of, fetch_b, P, alpha, beta, C, ldc)
#define SMALL_ROWS(m)                                                                                              \
    (from_p ? (nc == 16 ? (h ? SMALL_TILE(m, 1, 1, 1) : SMALL_TILE(m, 0, 1, 1)) : SMALL_TILE(m, 0, 1, 0))          \
            : nc < 16 ? (h ? SMALL_TILE(m, 1, 0, 0) : SMALL_TILE(m, 0, 0, 0))                                      \
                      : (h ? SMALL_TILE(m, 1, 0, 1) : SMALL_TILE(m, 0, 0, 1)))
    switch (mi) {
    case 1: SMALL_ROWS(1); break;
    case 2: SMALL_ROWS(2); break;
    case 3: SMALL_ROWS(3); break;
    case 4: SMALL_ROWS(4); break;
    case 5: SMALL_ROWS(5); break;
    default: SMALL_ROWS(6); break;
    }
#undef SMALL_ROWS
#undef SMALL_TILE
}

/* The small products: each thread a contiguous range of 16-column panels, each panel
 * down all rows of A in blocks of SR. Not inlined: its OpenMP region must belong to a
 * function nm lists (tests/build/test_no_avx512.sh). -1 when memory runs out. */
static __attribute__((noinline)) int small_team(int M, int h, int N, int K, float alpha, const float *A, int lda,
                                                const void *B, int ldb, float beta, float *C, int ldc, int team) {
    int panels = (N + 15) / 16, failed = 0;
#pragma omp parallel num_threads(team) reduction(| : failed)
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num();
        int per = (panels + nt - 1) / nt, p0 = t * per, p1 = p0 + per < panels ? p0 + per : panels;
        float *P = p0 < p1 ? aligned_alloc(32, (size_t)K * 16 * sizeof(float)) : NULL;
        failed = p0 < p1 && !P;
        for (int p = p0; p < p1 && P; p++) {
            size_t j = (size_t)p * 16;
            int nc = N - (int)j < 16 ? N - (int)j : 16;
            int blocks = (M + SR - 1) / SR, fetch_of = p + 1 < p1 && N - (int)j >= 32 ? blocks : 0;
            for (int b = 0; b < blocks; b++)
                small_block(M - b * SR < SR ? M - b * SR : SR, h, b > 0, nc, A + (size_t)b * SR * lda, lda, K, B,
                            (size_t)ldb, j, fetch_of, b, P, alpha, beta, C + (size_t)b * SR * ldc, ldc);
        }
        free(P);
    }
    return failed ? -1 : 0;
}

/* C = beta·C (a product with K = 0 or alpha = 0; beta 0: C not read); returns 0 */
static int scale_c(int M, int N, float beta, float *C, int ldc) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) C[(size_t)i * ldc + j] = beta == 0.0f ? 0.0f : beta * C[(size_t)i * ldc + j];
    return 0;
}

/* pst_sgemm_avx2_thin, with B in bf16 when h (not the output layer's 9-64 rows). Not inlined: its
 * OpenMP regions must belong to a function nm lists (tests/build/test_no_avx512.sh). */
static __attribute__((noinline)) int thin(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A,
                                          int lda, const void *B, int h, int ldb, float beta, float *C, int ldc) {
    int small_product = !trans_a && !trans_b && M > PST_GEMM_THIN_MAX;
    if (M > (small_product || (trans_b && !h) ? PST_GEMM_SMALL_MAX : PST_GEMM_THIN_MAX)) return -1;
    if (M <= 0 || N <= 0) return 0;
    if (K <= 0 || alpha == 0.0f) return scale_c(M, N, beta, C, ldc);
    if (small_product)
        return small_team(M, h, N, K, alpha, A, lda, B, ldb, beta, C, ldc,
                          omp_in_parallel() || 2.0 * M * N * K < 1e6 ? 1 : omp_get_max_threads());
    int Kp = (K + 7) / 8 * 8;
    /* op(A), zero-padded to Kp columns: on the stack when small (decoding's case) */
    float small[4096] __attribute__((aligned(32)));
    float *Ab = (size_t)M * Kp <= 4096 ? small : aligned_alloc(32, (size_t)M * Kp * sizeof(float));
    if (!Ab) return -1;
    for (int i = 0; i < M; i++)
        for (int k = 0; k < Kp; k++)
            Ab[(size_t)i * Kp + k] = k >= K ? 0.0f : trans_a ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
    int nthreads = omp_in_parallel() || 4.0 * N * K < 1e6 ? 1 : omp_get_max_threads();
    if (trans_b && M > PST_GEMM_THIN_MAX) { /* tiles of HT columns, 32 tiles a task (fp32 B only) */
        int groups = (M + 15) / 16, tasks = (N + 32 * HT - 1) / (32 * HT);
        float *Ap = aligned_alloc(32, (size_t)groups * K * 16 * sizeof(float));
        if (!Ap) {
            if (Ab != small) free(Ab);
            return -1;
        }
        for (int g = 0; g < groups; g++)
            for (int k = 0; k < K; k++)
                for (int i = 0; i < 16; i++)
                    Ap[((size_t)g * K + k) * 16 + i] = g * 16 + i < M ? Ab[(size_t)(g * 16 + i) * Kp + k] : 0.0f;
#pragma omp parallel for schedule(dynamic) num_threads(nthreads)
        for (int t = 0; t < tasks; t++) {
            int j0 = t * 32 * HT, j1 = j0 + 32 * HT < N ? j0 + 32 * HT : N;
            head_cols(Ap, K, M, j0, j1, (const float *)B, ldb, alpha, beta, C, ldc);
        }
        free(Ap);
    } else if (trans_b) { /* chunks of NT_CHUNK columns, handed out as threads come free */
        int chunks = (N + NT_CHUNK - 1) / NT_CHUNK;
#pragma omp parallel for schedule(dynamic) num_threads(nthreads)
        for (int t = 0; t < chunks; t++) {
            int j0 = t * NT_CHUNK, j1 = j0 + NT_CHUNK < N ? j0 + NT_CHUNK : N;
            for (int i0 = 0; i0 < M; i0 += 4)
                nt_cols(M - i0 < 4 ? M - i0 : 4, h, j0, j1, K, Kp, Ab + (size_t)i0 * Kp, B, ldb, alpha, beta,
                        C + (size_t)i0 * ldc, ldc);
        }
    } else {
        nn_team(M, h, N, K, Kp, Ab, B, ldb, alpha, beta, C, ldc, nthreads);
    }
    if (Ab != small) free(Ab);
    return 0;
}

int pst_sgemm_avx2_thin(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc) {
    return thin(trans_a, trans_b, M, N, K, alpha, A, lda, B, 0, ldb, beta, C, ldc);
}

int pst_sgemm_avx2_thin_bf16(int trans_b, int M, int N, int K, const float *A, int lda, const uint16_t *B16, int ldb,
                             float beta, float *C, int ldc) {
    return thin(0, trans_b, M, N, K, 1.0f, A, lda, B16, 1, ldb, beta, C, ldc);
}

/* ---- training's products: packed, 6 × 16 register tiles --------------------------
 *
 *   C[M,N] = alpha · op(A)[M,K] · op(B)[K,N] + beta · C, any shape (M, N, K >= 64 in auto):
 *
 *   for each column block jc of PNC columns:
 *     for each depth block pc of PKC:
 *       pack op(B)[pc, jc] into 16-column panels, k-major: Bp[k][16] (shared by the team)
 *       each thread, for each of its row blocks (an equal share of the 6-row panels):
 *         pack op(A)[rows, pc] into 6-row panels, k-major: Ap[k][6] (its own, L2)
 *         for each 16-column panel of Bp (16 KB, L1), for each 6-row panel of Ap:
 *           acc[6][16] = Σ_k Ap[k][i]·Bp[k][j]  (12 ymm accumulators)
 *           C tile = alpha·acc + beta'·C tile  (beta' = beta on the first pc, else 1)
 *
 * The BLIS arrangement for a core with 32 KB of L1 and 512 KB of L2 (Zen 2 / 3): the B
 * panel stays in L1 across the row block, the A block (about 135 KB) streams from L2,
 * the packed B block (3 MB) sits in L3. Packing absorbs the four transpose combinations
 * and zero-pads the edges (8 × 8 transposes where op() reads across rows). */
#ifndef PST_AVX2_KC
#define PST_AVX2_KC 256
#endif
#ifndef PST_AVX2_MC
#define PST_AVX2_MC 144
#endif
enum { PR = 6, PN = 16, PKC = PST_AVX2_KC, PNC = 3072, PMC = PST_AVX2_MC };
/* (KC and MC can be overridden at compile time, -DPST_AVX2_KC=...: on Zen 3, 256 / 144 and
 * 384 / 96 measured level within the host's noise, 512 / 96 slower on 1024 x 3072 x 768) */

/* r[i] = column i of the 8 × 8 matrix whose rows were r[0..7] */
static inline __attribute__((always_inline)) void transpose8(__m256 r[8]) {
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x20);
        r[4 + i] = _mm256_permute2f128_ps(u[i], u[4 + i], 0x31);
    }
}

/* r[k] = lanes i < rows of column k < kn of the block src[i][0 .. kn) (rows ld apart);
 * other lanes and columns 0 */
static inline __attribute__((always_inline)) void load_transposed8(const float *src, size_t ld, int rows, int kn,
                                                                   __m256 r[8]) {
    __m256i m = lanes(kn);
    for (int i = 0; i < 8; i++)
        r[i] = i >= rows ? _mm256_setzero_ps() : kn >= 8 ? _mm256_loadu_ps(src + i * ld) : _mm256_maskload_ps(src + i * ld, m);
    transpose8(r);
}

/* Rows i0 .. i0 + mr (mr <= PR) of op(A), depth k0 .. k0 + kc, as one panel: dst[k][i].
 * Each k's 6 values are stored as 8 (lanes 6, 7 zero), the next k overwriting the two:
 * dst needs 2 floats of room past kc·PR. */
static void pack_a_panel(int trans_a, const float *A, int lda, int i0, int mr, int k0, int kc, float *dst) {
    if (trans_a) { /* A stored [K, M]: row k of A holds the 6 values */
        __m256i m = lanes(mr);
        for (int k = 0; k < kc; k++)
            _mm256_storeu_ps(dst + (size_t)k * PR, _mm256_maskload_ps(A + (size_t)(k0 + k) * lda + i0, m));
        return;
    }
    for (int kb = 0; kb < kc; kb += 8) {
        int kn = kc - kb < 8 ? kc - kb : 8;
        __m256 r[8];
        load_transposed8(A + (size_t)i0 * lda + k0 + kb, (size_t)lda, mr, kn, r);
        for (int k = 0; k < kn; k++) _mm256_storeu_ps(dst + (size_t)(kb + k) * PR, r[k]);
    }
}

/* Columns j0 .. j0 + nr (nr <= PN) of op(B), depth k0 .. k0 + kc, as one panel: dst[k][j]
 * (columns past nr zero). */
static void pack_b_panel(int trans_b, const float *B, int ldb, int j0, int nr, int k0, int kc, float *dst) {
    if (!trans_b) { /* B stored [K, N] */
        __m256i m0 = lanes(nr), m1 = lanes(nr - 8);
        for (int k = 0; k < kc; k++) {
            const float *src = B + (size_t)(k0 + k) * ldb + j0;
            __m256 b0 = nr >= 8 ? _mm256_loadu_ps(src) : _mm256_maskload_ps(src, m0);
            __m256 b1 = nr >= 16 ? _mm256_loadu_ps(src + 8) : _mm256_maskload_ps(src + 8, m1);
            _mm256_store_ps(dst + (size_t)k * PN, b0);
            _mm256_store_ps(dst + (size_t)k * PN + 8, b1);
        }
        return;
    }
    for (int kb = 0; kb < kc; kb += 8) { /* B stored [N, K]: 8 × 8 transposes */
        int kn = kc - kb < 8 ? kc - kb : 8;
        for (int h = 0; h < PN; h += 8) {
            __m256 r[8];
            load_transposed8(B + (size_t)(j0 + h) * ldb + k0 + kb, (size_t)ldb, nr - h, kn, r);
            for (int k = 0; k < kn; k++) _mm256_store_ps(dst + (size_t)(kb + k) * PN + h, r[k]);
        }
    }
}

/* C[i][j] = alpha·Σ_k a[k][i]·b[k][j] + beta·C[i][j] for i < mr, j < nr (a: a 6-row panel,
 * b: a 16-column panel, both kc deep) */
static inline __attribute__((always_inline)) void packed_tile(const int full, int kc, const float *restrict a,
                                                              const float *restrict b, float *C, int ldc, int mr,
                                                              int nr, float alpha, float beta) {
    __m256 acc0[PR], acc1[PR];
#pragma GCC unroll 6
    for (int i = 0; i < PR; i++) acc0[i] = acc1[i] = _mm256_setzero_ps();
    /* the C tile is read and written after the k loop: start fetching it now */
    for (int i = 0; i < mr; i++) {
        _mm_prefetch((const char *)(C + (size_t)i * ldc), _MM_HINT_T0);
        _mm_prefetch((const char *)(C + (size_t)i * ldc + PN - 1), _MM_HINT_T0);
    }
#pragma GCC unroll 2
    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
        for (int i = 0; i < PR; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i);
            acc0[i] = _mm256_fmadd_ps(ai, b0, acc0[i]);
            acc1[i] = _mm256_fmadd_ps(ai, b1, acc1[i]);
        }
        a += PR;
        b += PN;
    }
#pragma GCC unroll 6
    for (int i = 0; i < PR; i++) {
        if (!full && i >= mr) break;
        float *c = C + (size_t)i * ldc;
        store_vec(c, acc0[i], full ? 8 : nr, alpha, beta);
        store_vec(c + 8, acc1[i], full ? 8 : nr - 8, alpha, beta);
    }
}

/* One thread's row block (panels p0 .. p1 of all M's 6-row panels) against the packed
 * B block (nc columns, kc deep): Ap is the thread's own buffer. */
static void packed_block(int trans_a, int M, const float *A, int lda, int p0, int p1, int pc, int kc, int jc, int nc,
                         const float *Bp, float *Ap, float alpha, float beta, float *C, int ldc) {
    for (int p = p0; p < p1; p++) {
        int i0 = p * PR;
        pack_a_panel(trans_a, A, lda, i0, M - i0 < PR ? M - i0 : PR, pc, kc, Ap + (size_t)(p - p0) * PR * kc);
    }
    for (int q = 0; q * PN < nc; q++) {
        int j = q * PN, nr = nc - j < PN ? nc - j : PN;
        const float *b = Bp + (size_t)q * PN * kc;
        for (int p = p0; p < p1; p++) {
            int i0 = p * PR, mr = M - i0 < PR ? M - i0 : PR;
            const float *a = Ap + (size_t)(p - p0) * PR * kc;
            float *c = C + (size_t)i0 * ldc + jc + j;
            if (mr == PR && nr == PN) packed_tile(1, kc, a, b, c, ldc, PR, PN, alpha, beta);
            else packed_tile(0, kc, a, b, c, ldc, mr, nr, alpha, beta);
        }
    }
}

/* The packed product on a team of threads. Not inlined: its OpenMP region must belong to
 * a function nm lists (tests/build/test_no_avx512.sh). -1 when memory runs out. */
static __attribute__((noinline)) int packed_team(int trans_a, int trans_b, int M, int N, int K, float alpha,
                                                 const float *A, int lda, const float *B, int ldb, float beta,
                                                 float *C, int ldc, int team) {
    int kc_max = K < PKC ? K : PKC, nc_max = N < PNC ? N : PNC, panels = (M + PR - 1) / PR;
    /* a thread's row block is at most PMC / PR panels (below), plus the packing's 2 floats */
    size_t a_stride = ((size_t)PMC * kc_max + 8 + 7) / 8 * 8, b_size = (size_t)(nc_max + PN - 1) / PN * PN * kc_max;
    float *Bp = aligned_alloc(32, 2 * b_size * sizeof(float)); /* two blocks, packed in turn */
    float *Ap_all = aligned_alloc(32, (size_t)team * a_stride * sizeof(float));
    if (!Bp || !Ap_all) {
        free(Bp);
        free(Ap_all);
        return -1;
    }
#pragma omp parallel num_threads(team)
    {
        int nt = omp_get_num_threads(), t = omp_get_thread_num(), turn = 0;
        float *Ap = Ap_all + (size_t)t * a_stride;
        /* blocks of at most PMC rows, the same number for every thread, panels shared evenly */
        int per_thread = (panels * PR + nt * PMC - 1) / (nt * PMC), blocks = per_thread * nt;
        for (int jc = 0; jc < N; jc += PNC) {
            int nc = N - jc < PNC ? N - jc : PNC, b_panels = (nc + PN - 1) / PN;
            for (int pc = 0; pc < K; pc += PKC, turn ^= 1) {
                int kc = K - pc < PKC ? K - pc : PKC;
                /* into the block not read by the previous depth block: this one was last read
                 * two blocks ago, before every thread passed the barrier ending the last packing */
                float *Bb = Bp + turn * b_size;
#pragma omp for schedule(static)
                for (int q = 0; q < b_panels; q++)
                    pack_b_panel(trans_b, B, ldb, jc + q * PN, nc - q * PN < PN ? nc - q * PN : PN, pc, kc,
                                 Bb + (size_t)q * PN * kc);
                for (int b = t * per_thread; b < (t + 1) * per_thread; b++) {
                    int p0 = (int)((long)panels * b / blocks), p1 = (int)((long)panels * (b + 1) / blocks);
                    packed_block(trans_a, M, A, lda, p0, p1, pc, kc, jc, nc, Bb, Ap, alpha, pc == 0 ? beta : 1.0f,
                                 C, ldc);
                }
            }
        }
    }
    free(Ap_all);
    free(Bp);
    return 0;
}

int pst_sgemm_avx2_packed(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc) {
    if (M <= 0 || N <= 0) return 0;
    if (K <= 0 || alpha == 0.0f) return scale_c(M, N, beta, C, ldc);
    int team = omp_in_parallel() || 2.0 * M * N * K < 4e6 ? 1 : omp_get_max_threads();
    return packed_team(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc, team);
}

double pst_fma_chains_avx2(long iters) {
    __m256 acc[PST_FMA_CHAINS];
    for (int c = 0; c < PST_FMA_CHAINS; c++) acc[c] = _mm256_set1_ps(1.0f + 0.01f * c);
    const __m256 x = _mm256_set1_ps(0.999999f), y = _mm256_set1_ps(1e-7f);
    for (long i = 0; i < iters; i++) {
#pragma GCC unroll 12
        for (int c = 0; c < PST_FMA_CHAINS; c++) acc[c] = _mm256_fmadd_ps(acc[c], x, y);
    }
    float out[8];
    __m256 s = acc[0];
    for (int c = 1; c < PST_FMA_CHAINS; c++) s = _mm256_add_ps(s, acc[c]);
    _mm256_storeu_ps(out, s);
    return out[0] + out[7];
}

#pragma GCC pop_options

#else

int pst_sgemm_avx2_thin(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc) {
    return -1;
}

int pst_sgemm_avx2_thin_bf16(int trans_b, int M, int N, int K, const float *A, int lda, const uint16_t *B16, int ldb,
                             float beta, float *C, int ldc) {
    return -1;
}

int pst_sgemm_avx2_nt_head_lse(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                               const int *targets, float *C, int ldc, float *chunk_max, float *chunk_sum,
                               float *row_max, float *row_sum, float *picked) {
    return -1;
}

int pst_sgemm_avx2_nt_head_bf16(int M, int N, int K, const float *A, int lda, const uint16_t *B16, int ldb, float *C,
                                int ldc, float *chunk_max, float *chunk_sum) {
    return -1;
}

int pst_sgemm_avx2_packed(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc) {
    return -1;
}

double pst_fma_chains_avx2(long iters) { return 0 * (double)iters; }

#endif
