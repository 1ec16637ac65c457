/* Private to the base layer (and its tests and benchmarks): the matrix-product
 * kernels behind pst_sgemm and how one is chosen.
 *
 * pst_sgemm (include/posterior/base.h) picks a kernel per call:
 *   env POSTERIOR_GEMM=openblas  always OpenBLAS (cblas_sgemm)
 *   env POSTERIOR_GEMM=avx512    our packed AVX-512 kernel when the CPU has AVX-512F
 *                                (OpenBLAS otherwise: the portable fallback)
 *   env POSTERIOR_GEMM=avx2      our AVX2 kernels when the CPU has AVX2 + FMA (thin, small,
 *                                output layer where they apply, packed for the rest),
 *                                OpenBLAS otherwise
 *   unset or auto                the measured rule in pst_gemm_choose (base/gemm.c)
 */
#ifndef POSTERIOR_BASE_GEMM_H
#define POSTERIOR_BASE_GEMM_H

#include <stdint.h>

typedef enum {
    PST_GEMM_AUTO = 0,
    PST_GEMM_OPENBLAS = 1,
    PST_GEMM_AVX512 = 2,
    PST_GEMM_AVX2 = 3, /* base/gemm_avx2.c */
} pst_gemm_kernel;

/* 1 when this CPU (and the compiler) can run the AVX-512 kernel. */
int pst_gemm_avx512_available(void);

/* 1 when this CPU (and the compiler) can run the AVX2 kernels: AVX2 and FMA. */
int pst_gemm_avx2_available(void);

/* The kernel POSTERIOR_GEMM asks for (PST_GEMM_AUTO when unset, empty or "auto");
 * -1 for an unknown value (pst_sgemm then uses auto). */
int pst_gemm_requested(void);

/* The kernel pst_sgemm runs for this shape under `requested` (never AUTO). */
pst_gemm_kernel pst_gemm_choose(pst_gemm_kernel requested, int trans_a, int trans_b, int M, int N,
                                int K);

/* Same contract as pst_sgemm, run by the named kernel (AUTO: by the rule). A
 * kernel that is unavailable, or that cannot get its packing memory, falls back
 * to OpenBLAS, so the result is always computed. */
void pst_sgemm_kernel(pst_gemm_kernel kernel, int trans_a, int trans_b, int M, int N, int K,
                      float alpha, const float *A, int lda, const float *B, int ldb, float beta,
                      float *C, int ldc);

/* The packed AVX-512 kernel itself (base/gemm_avx512.c). Returns 0, or -1 when
 * it was not compiled in or could not allocate its packing buffers (C untouched).
 * It and every pst_sgemm_avx512_* below run AVX-512 instructions from their first
 * one: call them only where pst_gemm_avx512_available() (a CPU without AVX-512F
 * stops on an illegal instruction). */
int pst_sgemm_avx512(int trans_a, int trans_b, int M, int N, int K, float alpha,
                     const float *A, int lda, const float *B, int ldb, float beta, float *C,
                     int ldc);

/* The thin-product kernel (M <= PST_GEMM_THIN_MAX, e.g. one row per sequence while
 * decoding): streams B once, unpacked. Same contract and return value. */
#define PST_GEMM_THIN_MAX 8
int pst_sgemm_avx512_thin(int trans_a, int trans_b, int M, int N, int K, float alpha,
                          const float *A, int lda, const float *B, int ldb, float beta, float *C,
                          int ldc);
/* The thin products on AVX2 + FMA (base/gemm_avx2.c: a CPU without AVX-512F), the same
 * contract with 8-float vectors; B [K, N] is split by rows among the threads (partial
 * sums added). Also 9-64 rows: A·B (the small products, 6 × 16 tiles over panels of B
 * copied once) and A·Bᵀ (the output layer, 16 × 6 tiles). -1 for other M. Call only
 * where pst_gemm_avx2_available(). */
int pst_sgemm_avx2_thin(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                        const float *B, int ldb, float beta, float *C, int ldc);
/* Any shape on AVX2 + FMA, packed (base/gemm_avx2.c: 6 × 16 register tiles over panels of
 * op(A) and op(B) copied k-major, BLIS style): the products of training. Same contract; -1
 * when it was not compiled in or could not allocate its packing buffers (C untouched).
 * Call only where pst_gemm_avx2_available(). */
int pst_sgemm_avx2_packed(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
                          const float *B, int ldb, float beta, float *C, int ldc);
/* The same with B in bfloat16 (prior/bf16_kernels.h), A as stored, alpha 1, M <= 8 (and
 * B [K, N] up to 64 rows): each value of B is widened to fp32 just before its FMAs, so C
 * holds exactly what pst_sgemm_avx2_thin computes on the widened B, read at half the bytes. */
int pst_sgemm_avx2_thin_bf16(int trans_b, int M, int N, int K, const float *A, int lda, const uint16_t *B16, int ldb,
                             float beta, float *C, int ldc);
/* The same with B in bfloat16 (prior/bf16_kernels.h), A as stored, alpha 1: each value
 * of B is widened to fp32 just before its FMAs, so C holds exactly what
 * pst_sgemm_avx512_thin computes on the widened B, read at half the bytes. */
int pst_sgemm_avx512_thin_bf16(int trans_b, int M, int N, int K, const float *A, int lda, const uint16_t *B16,
                               int ldb, float beta, float *C, int ldc);

/* The small-product kernel (PST_GEMM_THIN_MAX < M <= PST_GEMM_SMALL_MAX, A and B as
 * stored: a decoding batch times a weight matrix): 8-row × 32-column register tiles over
 * B unpacked; up to 16 rows with B of 2 MB or more, the thin kernel padded to 16 rows
 * (the same bits, faster with B from memory). Same contract and return value. */
#define PST_GEMM_SMALL_MAX 64
int pst_sgemm_avx512_small(int M, int N, int K, float alpha, const float *A, int lda, const float *B,
                           int ldb, float beta, float *C, int ldc);
/* The same with B in bfloat16 (prior/bf16_kernels.h), alpha 1: each block of B (each
 * vector, on the thin kernel's path) is widened to fp32 just before use, so C holds exactly
 * what pst_sgemm_avx512_small computes on the widened B, read at half the bytes. */
int pst_sgemm_avx512_small_bf16(int M, int N, int K, const float *A, int lda, const uint16_t *B16, int ldb,
                                float beta, float *C, int ldc);

/* The output-layer kernel: C[M,N] = alpha·A[M,K]·B[N,K]ᵀ + beta·C (A as stored, B
 * transposed: hidden states times wteᵀ) for K <= PST_GEMM_HEAD_MAX_K, any M; B is
 * streamed as stored, never packed. Same contract and return value. */
#define PST_GEMM_HEAD_MAX_K 1024 /* GPT-2 small to medium (768, 1024) */
int pst_sgemm_avx512_nt_head(int M, int N, int K, float alpha, const float *A, int lda,
                             const float *B, int ldb, float beta, float *C, int ldc);
/* The same with B in bfloat16 (the top 16 bits of each fp32: prior/bf16_kernels.h), alpha
 * 1, beta 0: each tile of 16 rows of B is widened to fp32 just before use, so C holds
 * exactly what pst_sgemm_avx512_nt_head computes on the widened B (rows ldb apart), and B
 * is read at half the bytes. With chunk_max and chunk_sum (both, or neither), also each
 * row's chunks' partials as pst_sgemm_avx512_nt_head_lse gives them, bit for bit those it
 * computes on the widened B (sampling draws from them); ldc = PST_GEMM_LOGITS_GROUPED
 * stores C grouped, as that kernel does. 0, or -1 when K is too large or memory runs out
 * (C may then be partly written: compute it another way). */
int pst_sgemm_avx512_nt_head_bf16(int M, int N, int K, const float *A, int lda, const uint16_t *B16, int ldb,
                                  float *C, int ldc, float *chunk_max, float *chunk_sum);

/* The output layer with its log-softmax (scoring, and sampling at temperature 1): of the
 * logits l = A[M,K]·B[N,K]ᵀ, computed as by pst_sgemm_avx512_nt_head, per row i
 *   row_max[i] = max_j l_ij, row_sum[i] = Σ_j e(l_ij − row_max[i])   (e = pst_exp_fast,
 *   base/exp_fast.h), picked[i] = l_{i,targets[i]} (0 where targets[i] < 0 or targets is NULL),
 * and per chunk c of PST_GEMM_LSE_COLS columns chunk_max[i·nc + c], chunk_sum[i·nc + c]:
 * the same over the chunk's columns alone (nc = PST_GEMM_LSE_CHUNKS(N)); the logits
 * themselves into C (rows ldc apart) only when C is not NULL. Every output may be NULL
 * (row_max and row_sum together). The sums are taken in a fixed order, whatever the
 * threads. 0, or -1 when K > PST_GEMM_HEAD_MAX_K, a size is < 1, memory runs out or the
 * kernel is not compiled in.
 * ldc = PST_GEMM_LOGITS_GROUPED stores the logits as the kernel holds them, with no
 * transpose: by groups of 16 rows, each group column-major, so row i is a stride-16
 * vector from PST_GEMM_GROUPED_ROW(C, i, N) (sampling reads one chunk of one row). C then
 * has room for ⌈M/16⌉·16 rows of PST_GEMM_GROUPED_N(N) columns; the padding is written. */
#define PST_GEMM_LSE_COLS 1024
#define PST_GEMM_LSE_CHUNKS(N) (((N) + PST_GEMM_LSE_COLS - 1) / PST_GEMM_LSE_COLS)
#define PST_GEMM_LOGITS_GROUPED 0
#define PST_GEMM_GROUPED_N(N) (((size_t)(N) + 15) / 16 * 16)
/* logit (i, j) is PST_GEMM_GROUPED_ROW(C, i, N)[16·j] */
#define PST_GEMM_GROUPED_ROW(C, i, N) ((C) + (size_t)(i) / 16 * 16 * PST_GEMM_GROUPED_N(N) + (size_t)(i) % 16)
int pst_sgemm_avx512_nt_head_lse(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                                 const int *targets, float *C, int ldc, float *chunk_max, float *chunk_sum,
                                 float *row_max, float *row_sum, float *picked);
/* The same on AVX2 + FMA (base/gemm_avx2.c: 16 × 6 tiles; the logits those of
 * pst_sgemm_avx2_thin on 9-64 rows, bit for bit). Call only where pst_gemm_avx2_available(). */
int pst_sgemm_avx2_nt_head_lse(int M, int N, int K, const float *A, int lda, const float *B, int ldb,
                               const int *targets, float *C, int ldc, float *chunk_max, float *chunk_sum,
                               float *row_max, float *row_sum, float *picked);
/* The same with B in bfloat16 (prior/bf16_kernels.h), for sampling (no targets, no row
 * outputs): each tile's rows of B are widened into L1 first, so the logits and partials
 * are exactly those pst_sgemm_avx2_nt_head_lse computes on the widened B. */
int pst_sgemm_avx2_nt_head_bf16(int M, int N, int K, const float *A, int lda, const uint16_t *B16, int ldb, float *C,
                                int ldc, float *chunk_max, float *chunk_sum);

/* The FMA peak probe of bench_ceilings and of pst_cpu_fma512_ratio (base/cpu.c), compiled
 * with the kernels (base/gemm_avx512.c, base/gemm_avx2.c): `iters` rounds of PST_FMA_CHAINS independent
 * chains acc = acc·x + y in registers, 512-bit (16 lanes) or 256-bit (8 lanes), 2 FLOP per
 * lane; returns a value that depends on every chain (use it, or the loop is optimised
 * away). Call the first only on a CPU with AVX-512F, the second with AVX2 + FMA; without
 * the kernels, 0. */
#define PST_FMA_CHAINS 12
double pst_fma_chains_avx512(long iters);
double pst_fma_chains_avx2(long iters);

/* "Cooperlake", "Haswell", ...: the kernel family OpenBLAS runs on this machine. */
const char *pst_gemm_openblas_core(void);

#endif
