/* Matrix products: pst_sgemm dispatches each call to OpenBLAS (cblas_sgemm, the
 * portable kernel), to our AVX-512 kernels (base/gemm_avx512.c) or, on a CPU with
 * AVX2 but not AVX-512F, to our AVX2 kernels (base/gemm_avx2.c), chosen at run
 * time: env POSTERIOR_GEMM=auto|openblas|avx512|avx2 (default auto), the CPU, and in
 * auto mode a rule measured by bench/bench_gemm.c. */
#include "base/cpu.h"
#include "base/gemm.h"
#include "posterior/base.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

char *openblas_get_corename(void); /* OpenBLAS extension, not in cblas.h */

int pst_gemm_avx512_available(void) { return pst_cpu_has_avx512f(); }
int pst_gemm_avx2_available(void) { return pst_cpu_has_avx2_fma(); }

int pst_gemm_requested(void) {
    const char *s = pst_env_gemm(); /* NULL when unset or empty */
    if (!s || strcmp(s, "auto") == 0) return PST_GEMM_AUTO;
    if (strcmp(s, "openblas") == 0) return PST_GEMM_OPENBLAS;
    if (strcmp(s, "avx512") == 0) return PST_GEMM_AVX512;
    if (strcmp(s, "avx2") == 0) return PST_GEMM_AVX2;
    return -1;
}

const char *pst_gemm_openblas_core(void) {
    const char *s = openblas_get_corename();
    return s ? s : "unknown";
}

/* OpenBLAS kernel families with FMA micro-kernels tuned to ~90% of the FMA peak:
 * 2 for AVX-512 ones, 1 for AVX2 ones (at most half the peak of a core that runs
 * AVX-512 at full width), 0 for the rest. */
static int core_width(const char *core) {
    static const char *const avx512[] = {"skylakex", "cooperlake", "sapphirerapids"};
    static const char *const avx2[] = {"haswell", "zen"};
    for (size_t i = 0; i < sizeof avx512 / sizeof avx512[0]; i++)
        if (strcasecmp(core, avx512[i]) == 0) return 2;
    for (size_t i = 0; i < sizeof avx2 / sizeof avx2[0]; i++)
        if (strcasecmp(core, avx2[i]) == 0) return 1;
    return 0;
}

/* asked on every product: the family is fixed at load, so looked up once (a race
 * only writes the same value twice) */
static int openblas_tuned_width(void) {
    static int width = -1;
    if (width < 0) width = core_width(pst_gemm_openblas_core());
    return width;
}

/* 1 when OpenBLAS's kernel is level with ours on the large products of training:
 * an AVX-512 family, or an AVX2 family on a core that splits each 512-bit FMA into
 * two 256-bit halves (pst_cpu_fma512_ratio ~1, Zen 4), where AVX-512 buys no
 * throughput. On a full-width core (ratio ~2, Zen 5) an AVX2 kernel reaches at most
 * half the peak. */
static int openblas_level_with_ours(void) {
    int width = openblas_tuned_width();
    return width == 2 || (width == 1 && pst_cpu_fma512_ratio() < 1.5);
}

/* The measured rule (bench/bench_gemm.c; numbers in docs/benchmarks.md), GPT-2
 * small's products, one thread, on both kinds of AMD EPYC we run on:
 *  - Zen 4 (234 GFLOP/s FMA peak on 2 cores): OpenBLAS with an FMA kernel is level
 *    with ours (Cooperlake: 0.93-1.02x ours) or ahead (Haswell, AVX2: ours
 *    0.88-1.07x, mostly 0.94-0.97) on the training shapes, at 82-92% of the FMA
 *    peak: Zen 4 runs a 512-bit FMA as two 256-bit halves, so AVX-512 buys no
 *    throughput over a well-tuned AVX2 kernel;
 *  - Zen 5 (514 GFLOP/s, full-width AVX-512): OpenBLAS Cooperlake is level (ours
 *    0.88-0.98x), OpenBLAS Haswell is not (ours 1.69-1.88x: 161-185 vs 95-102
 *    GFLOP/s); pst_cpu_fma512_ratio tells the two cores apart;
 *  - OpenBLAS on an older kernel family (a CPU it does not recognise, a generic
 *    build, or OPENBLAS_CORETYPE=Sandybridge / Nehalem) loses: 86 and 33 vs 103; on
 *    Intel Xeon family 6 model 207 (Emerald Rapids, which OpenBLAS 0.3.21 does not know:
 *    it runs Prescott, SSE3, no FMA) it loses at every shape, large or small, 2 threads:
 *    GPT-2 small's products 28-58 vs 193-279 GFLOP/s, tiny attention 256x256x32 35 vs
 *    152, 48x48x32 23 vs 63, thin 1x384x128 6.8 vs 45, 32x16x16 18 vs 35 (one exception
 *    measured, 32x16x64 with A transposed: 24 vs 21, a 33 kFLOP product); so ours takes
 *    every shape there;
 *  - thin products (M <= 8: decoding's one row per sequence) are bound by reading B.
 *    OpenBLAS's sgemm packs all of B first; our thin kernel streams it once: 1.3-4.6x
 *    faster when B is over 4 MB (1x2304x768, 4x50257x768, 8x3072x768, ...), but
 *    slower on small B that stays in cache (1x768x768: 0.25-0.73x). With the decoder's
 *    column-chunk kernel for B stored [K,N] (moved here from prior/sample.c), B from
 *    memory: 1x768x768 level (0.93x), 4x and 8x768x768 1.5-2.2x, 1x2304x768 3-6x;
 *    B of 384x128 or 512x128 (tiny model): OpenBLAS 1.6-3x ahead;
 *  - the output layer while decoding a batch, hidden [M, K]·wteᵀ with K <= 1024 and
 *    8 < M <= 64 (16 x 50257 x 128, shared machine, B from memory): OpenBLAS packs all
 *    of wte per call (29 GFLOP/s), our unpacked kernel streams it (46-73 GFLOP/s;
 *    64 rows: 61 vs 78); at M = 512 OpenBLAS is level or ahead (88 vs 81-87). GPT-2
 *    small's width (K = 768; Emerald Rapids, 2 threads, B from memory): the packed
 *    kernel, which copies all 154 MB of wte per call, 70 (M = 16) and 178 (M = 64)
 *    GFLOP/s, OpenBLAS (Prescott) 41 and 56, the output-layer kernel 108 and 251
 *    (K = 512: 142, K = 1024: 135 at M = 16);
 *  - a decoding batch times a weight matrix as stored (A·B, 8 < M <= 64; the packed
 *    kernel's 14-row tiles waste most of a second tile on 16 rows): the small-product
 *    kernel (8 × 32 register tiles, B unpacked), Zen 5, OpenBLAS Haswell, one thread:
 *    16x512x128 184 vs 43, 16x384x128 177 vs 85, 16x128x128 124 vs 88, 16x2304x768 208
 *    vs 81, 64x768x768 218 vs 105 GFLOP/s; not measured on Zen 4, so it follows the
 *    large products' rule there (OpenBLAS where it is level with ours);
 *  - other 8 < M < 64: OpenBLAS (ours is not measured better there).
 * So: ours everywhere when OpenBLAS runs an untuned family; else ours (thin) for M <= 8
 * with N·K >= 2^19; the output-layer kernel for the
 * decoding batch (above); ours (small) for the decoding batch's projections and ours
 * (packed) for M, N, K >= 64 when OpenBLAS is not level with ours
 * (openblas_level_with_ours); OpenBLAS otherwise. */
/* a decoding batch times a weight matrix as stored: 8 < M <= 64, neither transposed */
static int is_small_shape(int trans_a, int trans_b, int M) {
    return !trans_a && !trans_b && M > PST_GEMM_THIN_MAX && M <= PST_GEMM_SMALL_MAX;
}

/* the decoding batch's output layer: hidden [M, K]·wteᵀ, small K, 8 < M <= 64 */
static int is_head_shape(int trans_a, int trans_b, int M, int K) {
    return !trans_a && trans_b && K <= PST_GEMM_HEAD_MAX_K && M <= 64;
}

/* the AVX2 packed kernel's shapes in auto: every product of training (session 22, Zen 3, 2
 * threads, passive waiting as the CLI runs, median ours / OpenBLAS Zen: GPT-2 small's ten
 * products 0.99-1.31, mostly 1.06-1.15; the output layer 1024 x 50257 x 768 1.16, its dW
 * 1.14, its dX (K = 50257) 0.77 and 1.32 in two runs; the tiny model's DPG gradient pass
 * 140 x 50257 x 128 1.17, 140 x 128 x 50257 1.21, 50257 x 128 x 140 1.44; 256 x 256 x 32
 * 2.2; below 4 MFLOP, single-threaded: 128 x 128 x 64 1.02, 100^3 1.08, 64^3 0.85) */
static int is_packed_avx2_shape(int M, int N, int K) {
    return M >= 64 && N >= 64 && K >= 32 && 2.0 * M * N * K >= 4e6;
}

/* Without AVX-512F (or when asked for avx2): the AVX2 kernel for M <= 8 where B is 2 MB
 * or more, for the decoding batch's output layer (is_head_shape) where wte is 4 MB or
 * more (AMD EPYC Zen 3, docs/benchmarks.md, session 20), and for the small products
 * (is_small_shape) where B is 64 KB or more (session 21, warm, 2 threads, ours vs
 * OpenBLAS Zen: 16x128x512 159 vs 45, 16x384x128 158 vs 99, 16x128x128 80 vs 60,
 * 16x2304x768 154 vs 129, 64x768x768 184 vs 164, 16x50x30 36 vs 42 GFLOP/s), the packed
 * kernel for the products of training (is_packed_avx2_shape); OpenBLAS for the rest.
 * Asked for avx2: every shape, the packed kernel where no other applies. */
static pst_gemm_kernel choose_avx2(pst_gemm_kernel requested, int trans_a, int trans_b, int M, int N, int K) {
    int thin = M <= PST_GEMM_THIN_MAX, head = is_head_shape(trans_a, trans_b, M, K);
    int small = is_small_shape(trans_a, trans_b, M);
    if (!pst_gemm_avx2_available()) return PST_GEMM_OPENBLAS;
    if (requested == PST_GEMM_AVX2) return PST_GEMM_AVX2;
    if (!(thin || head || small)) return is_packed_avx2_shape(M, N, K) ? PST_GEMM_AVX2 : PST_GEMM_OPENBLAS;
    return (double)N * K >= (small ? 1 << 14 : thin ? 1 << 19 : 1 << 20) ? PST_GEMM_AVX2 : PST_GEMM_OPENBLAS;
}

pst_gemm_kernel pst_gemm_choose(pst_gemm_kernel requested, int trans_a, int trans_b, int M, int N,
                                int K) {
    if (requested == PST_GEMM_OPENBLAS) return PST_GEMM_OPENBLAS;
    if (requested == PST_GEMM_AVX2 || !pst_gemm_avx512_available())
        return choose_avx2(requested, trans_a, trans_b, M, N, K);
    if (requested == PST_GEMM_AVX512) return PST_GEMM_AVX512;
    if (openblas_tuned_width() == 0) return PST_GEMM_AVX512; /* OpenBLAS untuned: ours at every shape */
    if (M <= PST_GEMM_THIN_MAX) return (double)N * K >= (1 << 19) ? PST_GEMM_AVX512 : PST_GEMM_OPENBLAS;
    if (is_head_shape(trans_a, trans_b, M, K) && (double)N * K >= (1 << 20))
        return PST_GEMM_AVX512; /* the output-layer kernel */
    if (is_small_shape(trans_a, trans_b, M))
        return openblas_level_with_ours() ? PST_GEMM_OPENBLAS : PST_GEMM_AVX512; /* the small-product kernel */
    if (M < 64 || N < 64 || K < 64) return PST_GEMM_OPENBLAS;
    return openblas_level_with_ours() ? PST_GEMM_OPENBLAS : PST_GEMM_AVX512;
}

/* OpenBLAS (0.3.21, Cooperlake) runs a product with M·N·K <= 1e6 on its small-matrix
 * kernel, on the calling thread, and threads larger ones from M·N·K > 2^18 on. Just
 * above 1e6, e.g. the MLP of a decoding batch (16 x 512 x 128, 16 x 128 x 512), the
 * threaded general path is slower than the small kernel on row blocks (1 thread: 28-32
 * vs 18 us; 2 threads: 25 us, and 8 ms when the machine is loaded: a spinning team
 * waits for a descheduled thread). So a product with M·N·K <= 4e6 whose rows split into
 * blocks of >= 4 rows with M_b·N·K <= 1e6 runs as those blocks (single-threaded, same
 * result for any thread count). */
#define OPENBLAS_SMALL_MNK 1e6
static void sgemm_openblas(int trans_a, int trans_b, int M, int N, int K, float alpha,
                           const float *A, int lda, const float *B, int ldb, float beta, float *C,
                           int ldc) {
    double mnk = (double)M * N * K, nk = (double)N * K;
    int rows = M;
    if (mnk > OPENBLAS_SMALL_MNK && mnk <= 4 * OPENBLAS_SMALL_MNK && nk * 4 <= OPENBLAS_SMALL_MNK)
        rows = (int)(OPENBLAS_SMALL_MNK / nk);
    for (int m0 = 0; m0 < M; m0 += rows) {
        int mb = M - m0 < rows ? M - m0 : rows;
        const float *Ab = trans_a ? A + m0 : A + (size_t)m0 * lda;
        cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                    trans_b ? CblasTrans : CblasNoTrans, mb, N, K, alpha, Ab, lda, B, ldb, beta,
                    C + (size_t)m0 * ldc, ldc);
    }
}

void pst_sgemm_kernel(pst_gemm_kernel kernel, int trans_a, int trans_b, int M, int N, int K,
                      float alpha, const float *A, int lda, const float *B, int ldb, float beta,
                      float *C, int ldc) {
    pst_gemm_kernel chosen = pst_gemm_choose(kernel, trans_a, trans_b, M, N, K);
    if (chosen == PST_GEMM_AVX2 &&
        (pst_sgemm_avx2_thin(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == 0 ||
         pst_sgemm_avx2_packed(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == 0))
        return;
    if (chosen == PST_GEMM_AVX512) {
        int rc = M <= PST_GEMM_THIN_MAX
                     ? pst_sgemm_avx512_thin(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb,
                                             beta, C, ldc)
                 : is_small_shape(trans_a, trans_b, M)
                     ? pst_sgemm_avx512_small(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
                 : is_head_shape(trans_a, trans_b, M, K)
                     ? pst_sgemm_avx512_nt_head(M, N, K, alpha, A, lda, B, ldb, beta, C, ldc)
                     : pst_sgemm_avx512(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta,
                                        C, ldc);
        if (rc == 0) return;
    }
    sgemm_openblas(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void pst_sgemm(int trans_a, int trans_b, int M, int N, int K, float alpha, const float *A, int lda,
               const float *B, int ldb, float beta, float *C, int ldc) {
    int requested = pst_gemm_requested();
    pst_sgemm_kernel(requested < 0 ? PST_GEMM_AUTO : (pst_gemm_kernel)requested, trans_a, trans_b, M,
                     N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
