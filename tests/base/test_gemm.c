/* pst_sgemm and each kernel behind it (OpenBLAS, our packed AVX-512 kernel when the
 * CPU has AVX-512F, our AVX2 kernels (thin, small, output layer, packed) when it has AVX2 + FMA, and the auto rule) against a naive double-precision loop:
 * all four transpose combinations, odd sizes that cut every tile and block edge,
 * leading dimensions larger than the row, alpha / beta (beta = 0 must ignore NaN
 * in C), K = 0, and a call from inside an OpenMP parallel region. */
#include "base/cpu.h"
#include "base/gemm.h"
#include "check.h"
#include "posterior/base.h"

#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <strings.h>
#include <string.h>

/* C_ref[i][j] = alpha · Σ_k op(A)[i][k]·op(B)[k][j] + beta · C0[i][j], in double;
 * also |alpha|·Σ_k |op(A)[i][k]·op(B)[k][j]| + |beta·C0| as the scale of rounding error. */
static void naive(int ta, int tb, int M, int N, int K, float alpha, const float *A, int lda,
                  const float *B, int ldb, float beta, const float *C0, int ldc, double *ref,
                  double *scale) {
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double s = 0, a = 0;
            for (int k = 0; k < K; k++) {
                double x = ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                double y = tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                s += x * y;
                a += fabs(x * y);
            }
            double c = beta == 0.0f ? 0.0 : (double)beta * C0[(size_t)i * ldc + j];
            ref[(size_t)i * N + j] = alpha * s + c;
            scale[(size_t)i * N + j] = fabs(alpha) * a + fabs(c);
        }
}

/* The kernels under test: pst_gemm_kernel's four settings (AVX512 runs the thin
 * kernel for M <= PST_GEMM_THIN_MAX and the packed one above; AVX2 the AVX2 thin, small
 * and output-layer kernels where they apply and the AVX2 packed one for the rest), plus
 * each packed kernel called directly for every M. */
enum { PACKED = 4, PACKED_AVX2 = 5 };

static const char *kernel_name(int k) {
    return k == PACKED ? "avx512-packed" : k == PACKED_AVX2 ? "avx2-packed" : k == PST_GEMM_AVX512 ? "avx512" : k == PST_GEMM_AVX2 ? "avx2"
         : k == PST_GEMM_OPENBLAS ? "openblas" : "auto";
}

/* Runs one product with one kernel and checks every element of C, including the
 * padding columns beyond N (ldc > N), which must be left untouched. Returns the
 * number of bad elements. */
static int check_product(int kernel, int ta, int tb, int M, int N, int K, float alpha,
                         float beta, int pad, int nan_in_c, pst_rng *rng) {
    int lda = (ta ? M : K) + pad, ldb = (tb ? K : N) + pad, ldc = N + pad;
    if (lda < 1) lda = 1; /* BLAS wants lda >= 1 even when K = 0 */
    if (ldb < 1) ldb = 1;
    size_t na = (size_t)(ta ? K : M) * lda, nb = (size_t)(tb ? N : K) * ldb, nc = (size_t)M * ldc;
    float *A = malloc((na + 1) * sizeof(float)), *B = malloc((nb + 1) * sizeof(float));
    float *C = malloc((nc + 1) * sizeof(float)), *C0 = malloc((nc + 1) * sizeof(float));
    double *ref = malloc(((size_t)M * N + 1) * sizeof(double));
    double *scale = malloc(((size_t)M * N + 1) * sizeof(double));
    if (!A || !B || !C || !C0 || !ref || !scale) {
        CHECK_MSG(0, "out of memory");
        free(A), free(B), free(C), free(C0), free(ref), free(scale);
        return 1;
    }
    for (size_t i = 0; i < na; i++) A[i] = (float)pst_rng_normal(rng);
    for (size_t i = 0; i < nb; i++) B[i] = (float)pst_rng_normal(rng);
    for (size_t i = 0; i < nc; i++) C0[i] = nan_in_c ? NAN : (float)pst_rng_normal(rng);
    memcpy(C, C0, nc * sizeof(float));
    naive(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C0, ldc, ref, scale);
    if (kernel == PACKED)
        CHECK(pst_sgemm_avx512(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == 0);
    else if (kernel == PACKED_AVX2)
        CHECK(pst_sgemm_avx2_packed(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc) == 0);
    else
        pst_sgemm_kernel((pst_gemm_kernel)kernel, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C,
                         ldc);
    int bad = 0;
    double worst = 0;
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            double got = C[(size_t)i * ldc + j], want = ref[(size_t)i * N + j];
            /* fp32 accumulation: error grows like sqrt(K)·eps·Σ|terms|; allow K·eps */
            double tol = 1e-6 + (K + 2) * 6e-8 * scale[(size_t)i * N + j];
            double e = fabs(got - want);
            if (!(e <= tol)) bad++;
            if (e / (tol > 0 ? tol : 1) > worst || isnan(got)) worst = isnan(got) ? INFINITY : e / tol;
        }
        for (int j = N; j < ldc; j++) {
            float want = C0[(size_t)i * ldc + j], got = C[(size_t)i * ldc + j];
            if (!(got == want || (isnan(got) && isnan(want)))) bad++;
        }
    }
    CHECK_MSG(bad == 0, "%s ta=%d tb=%d M=%d N=%d K=%d alpha=%g beta=%g pad=%d: %d bad elements "
              "(worst error / tolerance %.3g)", kernel_name(kernel), ta, tb, M, N, K, alpha, beta,
              pad, bad, worst);
    free(A), free(B), free(C), free(C0), free(ref), free(scale);
    return bad;
}

/* The bf16 kernels against the fp32 ones on the widened B: C must be the same bit for bit
 * (each element one chain over k in order in both). kind: BF16_HEAD the output-layer
 * kernel (B [N, K]) at every M, groups of 16 and partial ones; BF16_SMALL the
 * small-product kernel (B [K, N], 8 < M <= 64); BF16_THIN_NN / BF16_THIN_NT the thin
 * kernel (M <= 8, B [K, N] / [N, K]). N with a partial tile or vector, K off and on the
 * blocks, rows of B longer than needed, 1 and 2 threads, beta 0 or 1 (not for the output
 * layer); columns past N of C untouched. BF16_SMALL also holds both to the 8 x 32 tiles
 * computed over slices of 256 columns of B (below the size at which 9-16 rows take the
 * thin kernel padded to 16 rows, for K < 2048): the two paths sum in the same order.
 * Returns the number of mismatches. */
enum { BF16_HEAD, BF16_SMALL, BF16_THIN_NN, BF16_THIN_NT };

/* the output layer on fp32 B with the chunk partials (p NULL: none), and on bf16 B */
static int head_partials(int avx2, int M, int N, int K, const float *A, const float *B, int ldb, float *C, int ldc,
                         float *p, int nc) {
    return avx2 ? pst_sgemm_avx2_nt_head_lse(M, N, K, A, K, B, ldb, NULL, C, ldc, p, p ? p + M * nc : NULL, NULL, NULL,
                                             NULL)
                : pst_sgemm_avx512_nt_head_lse(M, N, K, A, K, B, ldb, NULL, C, ldc, p, p ? p + M * nc : NULL, NULL,
                                               NULL, NULL);
}
static int head_bf16(int avx2, int M, int N, int K, const float *A, const uint16_t *B16, int ldb, float *C, int ldc,
                     float *p, int nc) {
    return (avx2 ? pst_sgemm_avx2_nt_head_bf16 : pst_sgemm_avx512_nt_head_bf16)(M, N, K, A, K, B16, ldb, C, ldc, p,
                                                                               p ? p + M * nc : NULL);
}

/* avx2: the AVX2 kernels (pst_sgemm_avx2_thin and _thin_bf16; the output layer against
 * pst_sgemm_avx2_nt_head_lse, whose tiles it shares), else the AVX-512 ones */
static int check_bf16_kernel(int avx2, int kind, int M, int N, int K, int pad, int threads, float beta, pst_rng *rng) {
    static const char *names[] = {"output-layer", "small-product", "thin A·B", "thin A·Bᵀ"};
    int kn = kind == BF16_SMALL || kind == BF16_THIN_NN; /* B stored [K, N] */
    int ldb = (kn ? N : K) + pad, ldc = N + pad;
    size_t nb = (size_t)(kn ? K : N) * ldb;
    float *A = malloc((size_t)M * K * sizeof(float)), *B = malloc(nb * sizeof(float));
    float *C = malloc((size_t)M * ldc * sizeof(float)), *C16 = malloc((size_t)M * ldc * sizeof(float));
    float *Ct = malloc((size_t)M * ldc * sizeof(float));
    uint16_t *B16 = malloc(nb * sizeof(uint16_t));
    if (!A || !B || !C || !C16 || !Ct || !B16) return 1;
    for (size_t i = 0; i < (size_t)M * K; i++) A[i] = (float)pst_rng_uniform(rng) - 0.5f;
    for (size_t i = 0; i < nb; i++) {
        float x = (float)pst_rng_uniform(rng) - 0.5f;
        uint32_t u;
        memcpy(&u, &x, sizeof u);
        B16[i] = (uint16_t)(u >> 16);
        u = (uint32_t)B16[i] << 16; /* B: the widened bf16 values */
        memcpy(B + i, &u, sizeof u);
    }
    for (size_t i = 0; i < (size_t)M * ldc; i++) C[i] = C16[i] = Ct[i] = (float)(i % 7) - 3.0f;
    int saved = omp_get_max_threads(), bad = 0;
    omp_set_num_threads(threads);
    switch (kind) {
    case BF16_SMALL:
        if (avx2) {
            bad = pst_sgemm_avx2_thin(0, 0, M, N, K, 1.0f, A, K, B, ldb, beta, C, ldc) != 0 ||
                  pst_sgemm_avx2_thin_bf16(0, M, N, K, A, K, B16, ldb, beta, C16, ldc) != 0;
            for (int j = 0; j < N && !bad; j += 256)
                bad = pst_sgemm_avx2_thin(0, 0, M, N - j < 256 ? N - j : 256, K, 1.0f, A, K, B + j, ldb, beta, Ct + j, ldc);
            break;
        }
        bad = pst_sgemm_avx512_small(M, N, K, 1.0f, A, K, B, ldb, beta, C, ldc) != 0 ||
              pst_sgemm_avx512_small_bf16(M, N, K, A, K, B16, ldb, beta, C16, ldc) != 0;
        for (int j = 0; j < N && !bad; j += 256)
            bad = pst_sgemm_avx512_small(M, N - j < 256 ? N - j : 256, K, 1.0f, A, K, B + j, ldb, beta, Ct + j, ldc);
        break;
    case BF16_HEAD:
        bad = (avx2 ? head_partials(1, M, N, K, A, B, ldb, C, ldc, NULL, 0)
                    : pst_sgemm_avx512_nt_head(M, N, K, 1.0f, A, K, B, ldb, 0.0f, C, ldc)) != 0 ||
              head_bf16(avx2, M, N, K, A, B16, ldb, C16, ldc, NULL, 0) != 0;
        break;
    default:
        bad = avx2 ? pst_sgemm_avx2_thin(0, !kn, M, N, K, 1.0f, A, K, B, ldb, beta, C, ldc) != 0 ||
                         pst_sgemm_avx2_thin_bf16(!kn, M, N, K, A, K, B16, ldb, beta, C16, ldc) != 0
                   : pst_sgemm_avx512_thin(0, !kn, M, N, K, 1.0f, A, K, B, ldb, beta, C, ldc) != 0 ||
                         pst_sgemm_avx512_thin_bf16(!kn, M, N, K, A, K, B16, ldb, beta, C16, ldc) != 0;
    }
    omp_set_num_threads(saved);
    for (size_t i = 0; i < (size_t)M * ldc && !bad; i++)
        if (memcmp(C + i, C16 + i, sizeof(float)) != 0 || (i % ldc >= (size_t)N && C16[i] != (float)(i % 7) - 3.0f) ||
            (kind == BF16_SMALL && memcmp(C + i, Ct + i, sizeof(float)) != 0))
            bad++;
    CHECK_MSG(!bad, "bf16 %s %s kernel %dx%dx%d (pad %d, %d threads, beta %g): differs from the fp32 kernel%s",
              avx2 ? "AVX2" : "AVX-512", names[kind], M, N, K, pad, threads, beta,
              kind == BF16_SMALL ? " or its tiles" : "");
    if (kind == BF16_HEAD) { /* the chunks' partials for the sampler: those of the fp32 kernel with the log-softmax */
        int nc = PST_GEMM_LSE_CHUNKS(N), pbad = 0;
        float *p32 = malloc(sizeof(float) * 4 * M * nc), *p16 = p32 + 2 * M * nc;
        omp_set_num_threads(threads);
        pbad = head_partials(avx2, M, N, K, A, B, ldb, NULL, 0, p32, nc) != 0 ||
               head_bf16(avx2, M, N, K, A, B16, ldb, C16, ldc, p16, nc) != 0 ||
               memcmp(p32, p16, sizeof(float) * 2 * M * nc) != 0 || memcmp(C, C16, sizeof(float) * M * ldc) != 0;
        /* and with the logits grouped (the sampler's layout): the same values and partials */
        float *Cg = malloc(sizeof(float) * (M + 15) / 16 * 16 * PST_GEMM_GROUPED_N(N));
        pbad += head_bf16(avx2, M, N, K, A, B16, ldb, Cg, PST_GEMM_LOGITS_GROUPED, p16, nc) != 0 ||
                memcmp(p32, p16, sizeof(float) * 2 * M * nc) != 0;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) pbad += PST_GEMM_GROUPED_ROW(Cg, i, N)[16 * (size_t)j] != C[(size_t)i * ldc + j];
        omp_set_num_threads(saved);
        CHECK_MSG(!pbad, "bf16 output-layer kernel %dx%dx%d (%d threads): chunk partials or logits differ", M, N, K,
                  threads);
        bad += pbad;
        free(p32), free(Cg);
    }
    free(Ct);
    free(A), free(B), free(C), free(C16), free(B16);
    return bad;
}

/* check_bf16_kernel on each of n shapes {M, N, K, pad}, 1 and 2 threads (beta 1 on 2
 * threads but for the output layer), for kinds kind0 .. kind1 */
static void check_bf16_shapes(int avx2, int kind0, int kind1, const int (*shapes)[4], int n, pst_rng *rng) {
    for (int s = 0; s < n; s++)
        for (int th = 1; th <= 2; th++)
            for (int kind = kind0; kind <= kind1; kind++)
                check_bf16_kernel(avx2, kind, shapes[s][0], shapes[s][1], shapes[s][2], shapes[s][3], th,
                                  th == 2 && kind != BF16_HEAD ? 1.0f : 0.0f, rng);
}

/* one row per sequence (M <= 8), both layouts of B: K off the 16- and 32-value steps, N
 * off the vectors, padded rows */
static const int bf16_thin_shapes[][4] = {{1, 3072, 768, 0}, {4, 777, 130, 3}, {8, 1001, 77, 0},
                                          {3, 50, 1000, 1},  {2, 4096, 33, 2}, {7, 300, 257, 5}};

/* The output layer with its log-softmax (pst_sgemm_avx512_nt_head_lse, or with avx2
 * pst_sgemm_avx2_nt_head_lse) against double
 * precision: per row the max logit, Σ_j exp(l_j − max) and the target's logit, so the
 * log-prob picked − max − log Σ. The columns of B grow in norm along j, so the running max
 * moves up across tiles and chunks (the rescale path); N cuts a tile and several
 * 1024-column chunks; lda, ldb padded; targets include −1, 0 and N − 1. The same at 1
 * and 2 threads, bit for bit. */
static int head_lse(int avx2, int M, int N, int K, const float *A, int lda, const float *B, int ldb, const int *tg,
                    float *C, int ldc, float *cm, float *cs, float *mx, float *sum, float *pk) {
    return avx2 ? pst_sgemm_avx2_nt_head_lse(M, N, K, A, lda, B, ldb, tg, C, ldc, cm, cs, mx, sum, pk)
                : pst_sgemm_avx512_nt_head_lse(M, N, K, A, lda, B, ldb, tg, C, ldc, cm, cs, mx, sum, pk);
}

static int check_head_lse(int avx2, int M, int N, int K, int pad, pst_rng *rng) {
    int lda = K + pad, ldb = K + pad, bad = 0;
    float *A = malloc(sizeof(float) * M * lda), *B = malloc(sizeof(float) * N * ldb);
    float *mx = malloc(sizeof(float) * M * 6), *sum = mx + M, *pk = mx + 2 * M, *mx2 = mx + 3 * M,
          *sum2 = mx + 4 * M, *pk2 = mx + 5 * M;
    int *tg = malloc(sizeof(int) * M);
    for (int i = 0; i < M * lda; i++) A[i] = (float)(pst_rng_uniform(rng) * 2 - 1);
    for (int j = 0; j < N; j++)
        for (int k = 0; k < ldb; k++)
            B[(size_t)j * ldb + k] = (float)((pst_rng_uniform(rng) * 2 - 1) * (1.0 + 3.0 * j / N) * 6.0 / sqrt(K));
    for (int i = 0; i < M; i++) tg[i] = i % 5 == 0 ? -1 : i % 5 == 1 ? 0 : i % 5 == 2 ? N - 1 : (int)(pst_rng_u64(rng) % N);
    int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    CHECK(head_lse(avx2, M, N, K, A, lda, B, ldb, tg, NULL, 0, NULL, NULL, mx, sum, pk) == 0);
    omp_set_num_threads(2);
    CHECK(head_lse(avx2, M, N, K, A, lda, B, ldb, tg, NULL, 0, NULL, NULL, mx2, sum2, pk2) == 0);
    omp_set_num_threads(saved);
    CHECK_MSG(memcmp(mx, mx2, sizeof(float) * M * 3) == 0, "lse %dx%dx%d: 1 and 2 threads differ", M, N, K);
    {
        /* with the logits and the chunks' partials (sampling): the logits are the output-layer
         * kernel's, bit for bit (AVX2: its 9-64-row kernel's); each chunk's max is its
         * logits' max, its sum theirs to rounding */
        int nc = PST_GEMM_LSE_CHUNKS(N), chunk_bad = 0;
        float *C = malloc(sizeof(float) * M * N), *C2 = malloc(sizeof(float) * M * N);
        float *cm = malloc(sizeof(float) * M * nc), *cs = malloc(sizeof(float) * M * nc);
        CHECK(head_lse(avx2, M, N, K, A, lda, B, ldb, tg, C, N, cm, cs, mx2, sum2, pk2) == 0);
        if (!avx2 || M > PST_GEMM_THIN_MAX) {
            CHECK((avx2 ? pst_sgemm_avx2_thin(0, 1, M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C2, N)
                        : pst_sgemm_avx512_nt_head(M, N, K, 1.0f, A, lda, B, ldb, 0.0f, C2, N)) == 0);
            CHECK_MSG(memcmp(C, C2, sizeof(float) * M * N) == 0, "lse %dx%dx%d: logits differ from the head kernel's", M, N, K);
        }
        CHECK_MSG(memcmp(mx, mx2, sizeof(float) * M * 3) == 0, "lse %dx%dx%d: storing the logits changed the sums", M, N, K);
        for (int i = 0; i < M; i++)
            for (int c = 0; c < nc; c++) {
                int j1 = (c + 1) * PST_GEMM_LSE_COLS < N ? (c + 1) * PST_GEMM_LSE_COLS : N;
                float m = -INFINITY;
                double s = 0;
                for (int j = c * PST_GEMM_LSE_COLS; j < j1; j++) m = C[(size_t)i * N + j] > m ? C[(size_t)i * N + j] : m;
                for (int j = c * PST_GEMM_LSE_COLS; j < j1; j++) s += exp((double)C[(size_t)i * N + j] - m);
                chunk_bad += cm[(size_t)i * nc + c] != m || !(fabs(cs[(size_t)i * nc + c] - s) <= 1e-5 * s);
            }
        CHECK_MSG(!chunk_bad, "lse %dx%dx%d: %d chunk partials wrong", M, N, K, chunk_bad);
        /* the logits grouped (sampling): the same values (the padding zeros), the same partials */
        size_t gn = PST_GEMM_GROUPED_N(N), ng = (size_t)(M + 15) / 16 * 16 * gn;
        float *Cg = malloc(sizeof(float) * ng);
        for (size_t i = 0; i < ng; i++) Cg[i] = NAN;
        float *cm2 = malloc(sizeof(float) * M * nc), *cs2 = malloc(sizeof(float) * M * nc);
        CHECK(head_lse(avx2, M, N, K, A, lda, B, ldb, tg, Cg, PST_GEMM_LOGITS_GROUPED, cm2, cs2, NULL, NULL, NULL) == 0);
        int grouped_bad = memcmp(cm, cm2, sizeof(float) * M * nc) != 0 || memcmp(cs, cs2, sizeof(float) * M * nc) != 0;
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < N; j++) grouped_bad += PST_GEMM_GROUPED_ROW(Cg, i, N)[16 * (size_t)j] != C[(size_t)i * N + j];
            for (size_t j = N; j < gn; j++) grouped_bad += PST_GEMM_GROUPED_ROW(Cg, i, N)[16 * j] != 0.0f;
        }
        CHECK_MSG(!grouped_bad, "lse %dx%dx%d: the grouped logits differ in %d places", M, N, K, grouped_bad);
        free(C), free(C2), free(cm), free(cs), free(Cg), free(cm2), free(cs2);
    }
    double worst = 0;
    for (int i = 0; i < M; i++) {
        double m = -INFINITY, s = 0, y = 0;
        double *l = malloc(sizeof(double) * N);
        for (int j = 0; j < N; j++) {
            double d = 0;
            for (int k = 0; k < K; k++) d += (double)A[(size_t)i * lda + k] * B[(size_t)j * ldb + k];
            l[j] = d, m = d > m ? d : m;
        }
        for (int j = 0; j < N; j++) s += exp(l[j] - m);
        if (tg[i] >= 0) y = l[tg[i]];
        free(l);
        double lp = y - m - log(s), got = (double)pk[i] - mx[i] - log((double)sum[i]);
        double err = fabs(got - lp) + fabs(mx[i] - m);
        worst = err > worst ? err : worst;
        bad += !(err < 2e-4) || (tg[i] < 0 && pk[i] != 0.0f);
    }
    CHECK_MSG(!bad, "lse %dx%dx%d (pad %d): %d rows off, worst error %.3g", M, N, K, pad, bad, worst);
    free(A), free(B), free(mx), free(tg);
    return bad;
}

int main(void) {
    int kernels[6] = {PST_GEMM_OPENBLAS, PST_GEMM_AUTO}, n_kernels = 2;
    if (pst_gemm_avx2_available()) kernels[n_kernels++] = PST_GEMM_AVX2, kernels[n_kernels++] = PACKED_AVX2;
    if (pst_gemm_avx512_available()) kernels[n_kernels++] = PST_GEMM_AVX512, kernels[n_kernels++] = PACKED;
    else printf("this CPU has no AVX-512F: the AVX-512 kernels are not tested\n");
    pst_rng rng;
    pst_rng_seed(&rng, 2024);

    /* Sizes around the tile (14 x 32), the 16-lane masks, and the KC = 384 block. */
    static const int dims[][3] = {
        {1, 1, 1},    {1, 37, 5},    {13, 31, 7},   {14, 32, 16},  {15, 33, 17},
        {29, 17, 1},  {3, 100, 385}, {57, 65, 130}, {100, 50, 769}, {130, 129, 64},
        /* thin products (decoding): M <= 8, N across the 120-column chunks */
        {1, 300, 33}, {2, 129, 16},  {4, 257, 70},  {5, 131, 100}, {8, 400, 47},
        {9, 140, 30}, {3, 242, 40}, /* a last 120-column chunk of 2: no three rows a pass */
        /* OpenBLAS on row blocks (M·N·K in (1e6, 4e6], blocks of 16 rows and a rest) */
        {37, 200, 300},
    };
    for (int kk = 0; kk < n_kernels; kk++)
        for (int d = 0; d < (int)(sizeof dims / sizeof dims[0]); d++)
            for (int ta = 0; ta < 2; ta++)
                for (int tb = 0; tb < 2; tb++)
                    check_product(kernels[kk], ta, tb, dims[d][0], dims[d][1], dims[d][2], 1.0f,
                                  0.0f, (d % 3) * 3, 0, &rng);

    for (int kk = 0; kk < n_kernels; kk++) {
        /* alpha / beta, accumulation into C */
        check_product(kernels[kk], 0, 1, 45, 70, 90, 0.5f, 1.0f, 2, 0, &rng);
        check_product(kernels[kk], 1, 0, 45, 70, 400, -1.5f, 0.25f, 0, 0, &rng);
        check_product(kernels[kk], 1, 1, 31, 47, 800, 2.0f, -1.0f, 5, 0, &rng);
        /* beta = 0: C may hold garbage (NaN) and must be overwritten, not scaled */
        check_product(kernels[kk], 0, 0, 33, 49, 20, 1.0f, 0.0f, 1, 1, &rng);
        check_product(kernels[kk], 1, 1, 33, 49, 500, 1.0f, 0.0f, 0, 1, &rng);
        /* K = 0: C = beta·C; alpha = 0 likewise */
        check_product(kernels[kk], 0, 0, 9, 40, 0, 1.0f, 0.5f, 0, 0, &rng);
        check_product(kernels[kk], 0, 1, 9, 40, 30, 0.0f, 2.0f, 0, 0, &rng);
        /* big enough to run on all threads and cross the NC = 3072 column block */
        check_product(kernels[kk], 0, 0, 150, 3100, 40, 1.0f, 0.0f, 0, 0, &rng);
        check_product(kernels[kk], 1, 1, 300, 200, 700, 1.0f, 1.0f, 3, 0, &rng);
        /* thin, multi-threaded (B over 1 MB), alpha / beta */
        check_product(kernels[kk], 0, 1, 3, 2100, 130, 0.5f, 1.0f, 1, 0, &rng);
        check_product(kernels[kk], 0, 0, 6, 2100, 130, 1.0f, -2.0f, 0, 0, &rng);
        check_product(kernels[kk], 1, 0, 1, 1000, 300, 1.0f, 0.0f, 0, 1, &rng);
        /* thin, B [K,N] (the AVX2 kernel: threads split K, partial sums added): K not a
         * multiple of the rows a pass (4 for M <= 4, else 2), a partial last vector,
         * several column chunks (M = 2, N > 8168; M = 8, N > 2024), K too short to split
         * (K < 64: the threads split the columns instead), alpha / beta */
        check_product(kernels[kk], 0, 0, 3, 2501, 203, 1.0f, 0.0f, 0, 1, &rng);
        check_product(kernels[kk], 1, 0, 7, 1999, 131, 0.5f, 1.0f, 2, 0, &rng);
        check_product(kernels[kk], 0, 0, 2, 9000, 67, 1.0f, 0.0f, 0, 0, &rng);
        check_product(kernels[kk], 0, 0, 8, 4500, 77, -0.5f, 1.5f, 1, 0, &rng);
        check_product(kernels[kk], 0, 0, 5, 6301, 40, 1.0f, 0.0f, 3, 1, &rng);
        check_product(kernels[kk], 1, 0, 4, 1200, 1001, 1.0f, 0.5f, 0, 0, &rng);
        /* teams that do not split evenly: 3 threads (2 shares of K and one idle, or 3
         * shares), 5 (shares of K only up to K / 32) */
        int saved = omp_get_max_threads();
        for (int th = 3; th <= 5; th += 2) {
            omp_set_num_threads(th);
            check_product(kernels[kk], 0, 0, 4, 4000, 70, 1.0f, 0.0f, 1, 1, &rng);
            check_product(kernels[kk], 0, 0, 8, 3001, 150, 1.0f, -1.0f, 0, 0, &rng);
            check_product(kernels[kk], 0, 0, 17, 1001, 150, 1.0f, 0.0f, 1, 1, &rng);
        }
        omp_set_num_threads(saved);
        /* the output-layer kernel (A·Bᵀ, K <= 1024, M <= 64): a decoding batch times wteᵀ,
         * many 16-column tiles and a partial one, multi-threaded, alpha / beta */
        check_product(kernels[kk], 0, 1, 16, 3001, 128, 1.0f, 0.0f, 0, 1, &rng);
        check_product(kernels[kk], 0, 1, 40, 2999, 256, 0.5f, 1.0f, 1, 0, &rng);
        check_product(kernels[kk], 0, 1, 64, 1000, 77, 1.0f, 0.0f, 2, 1, &rng); /* two pairs of groups */
        check_product(kernels[kk], 0, 1, 33, 1201, 768, 1.0f, 0.0f, 1, 1, &rng); /* GPT-2 small's width */
        check_product(kernels[kk], 0, 1, 12, 1100, 1024, -1.0f, 0.5f, 0, 0, &rng); /* the widest */
        /* deep products with a small C (the output layer's dX = dL·wte): the depth in
         * chunks of 4·KC on the threads, partial products summed in order */
        check_product(kernels[kk], 0, 0, 20, 40, 3500, 1.0f, 0.0f, 1, 1, &rng);
        check_product(kernels[kk], 1, 1, 15, 33, 4700, 0.5f, -1.0f, 0, 0, &rng);
        /* the small-product kernel (A·B, 8 < M <= 64): 8-row panels and a partial one,
         * 32-column tiles and a partial one, multi-threaded, alpha / beta */
        check_product(kernels[kk], 0, 0, 16, 3001, 128, 1.0f, 0.0f, 0, 1, &rng);
        check_product(kernels[kk], 0, 0, 61, 1000, 300, -0.5f, 2.0f, 3, 0, &rng);
        check_product(kernels[kk], 0, 0, 64, 47, 513, 1.0f, 1.0f, 1, 0, &rng);
        /* (AVX2: 6-row blocks and a partial one, 16-column panels and a partial one, N < 16) */
        check_product(kernels[kk], 0, 0, 13, 37, 50, 1.0f, 0.0f, 2, 1, &rng);
        check_product(kernels[kk], 0, 0, 9, 2000, 300, 0.5f, -1.0f, 0, 0, &rng);
        check_product(kernels[kk], 0, 0, 20, 15, 700, -1.0f, 0.5f, 1, 0, &rng);
        check_product(kernels[kk], 0, 0, 35, 1000, 31, 1.0f, 0.0f, 0, 1, &rng);
        /* (AVX2 packed: the KC = 256 block and a partial one, the NC = 3072 column block and
         * a partial one, 6-row panels shared unevenly among row blocks, 3 threads) */
        check_product(kernels[kk], 0, 1, 301, 3090, 257, 1.0f, 0.0f, 1, 1, &rng);
        check_product(kernels[kk], 1, 0, 293, 70, 520, 0.5f, 1.0f, 0, 0, &rng);
        omp_set_num_threads(3);
        check_product(kernels[kk], 1, 1, 200, 129, 300, -1.0f, 0.5f, 2, 0, &rng);
        check_product(kernels[kk], 0, 0, 1000, 100, 70, 1.0f, 0.0f, 0, 1, &rng);
        omp_set_num_threads(saved);
    }

    if (pst_gemm_avx512_available()) {
        /* the output layer with bf16 weights (sampling's q_bf16) */
        static const int shapes[][4] = {{16, 1000, 128, 0}, {16, 700, 768, 0}, {1, 100, 128, 3}, {5, 333, 200, 5},
                           {17, 260, 64, 0}, {40, 517, 300, 2}, {64, 250, 128, 0}, {9, 4000, 130, 1},
                           {33, 5000, 128, 0}};
        check_bf16_shapes(0, BF16_HEAD, BF16_HEAD, shapes, 9, &rng);
        /* and a decoding batch's projections (8 < M <= 64, B [K, N]: blocks of 128 rows).
         * From 9 to 16 rows with B of 2 MB or more both sides run the thin kernel padded to
         * 16 rows: the first two shapes and the last two (odd K, N off the 16-column
         * vectors, padded rows of B) hold it to the tiles' bits */
        static const int small_shapes[][4] = {{16, 768, 768, 0}, {16, 3072, 768, 0}, {9, 100, 130, 3}, {64, 300, 257, 0},
                                 {33, 65, 129, 1}, {16, 384, 128, 0}, {40, 517, 300, 2}, {9, 1100, 601, 3},
                                 {13, 777, 1001, 2}};
        check_bf16_shapes(0, BF16_SMALL, BF16_SMALL, small_shapes, 9, &rng);
        check_bf16_shapes(0, BF16_THIN_NN, BF16_THIN_NT, bf16_thin_shapes, 6, &rng);
        CHECK(pst_sgemm_avx512_thin_bf16(0, PST_GEMM_THIN_MAX + 1, 10, 10, NULL, 10, NULL, 10, 0.0f, NULL, 10) == -1);
        /* the output layer with its log-softmax (scoring) */
        int lse_shapes[][4] = {{1, 37, 5, 0}, {16, 1000, 128, 0}, {17, 3001, 128, 3}, {40, 2100, 768, 1},
                               {33, 5000, 64, 0}, {5, 16, 1024, 2}};
        for (int s = 0; s < 6; s++) check_head_lse(0, lse_shapes[s][0], lse_shapes[s][1], lse_shapes[s][2], lse_shapes[s][3], &rng);
        CHECK(pst_sgemm_avx512_nt_head_lse(4, 10, PST_GEMM_HEAD_MAX_K + 1, NULL, 1, NULL, 1, NULL, NULL, 0, NULL, NULL, NULL, NULL, NULL) == -1);
        CHECK(pst_sgemm_avx512_nt_head_bf16(4, 10, PST_GEMM_HEAD_MAX_K + 1, NULL, 1, NULL, 1, NULL, 10, NULL, NULL) == -1);
        CHECK(pst_sgemm_avx512_small_bf16(PST_GEMM_SMALL_MAX + 1, 10, 10, NULL, 10, NULL, 10, 0.0f, NULL, 10) == -1);
    } else {
        /* without AVX-512F (those kernels are never called): the AVX2 kernel for M <= 8 with
         * B of 2 MB or more, for the output layer's shape (9-64 rows, wte of 4 MB or more)
         * for the small products (9-64 rows times B as stored, 64 KB or more), the packed
         * kernel for 64 or more rows (and from 4 MFLOP), OpenBLAS for every other product */
        pst_gemm_kernel thin = pst_gemm_avx2_available() ? PST_GEMM_AVX2 : PST_GEMM_OPENBLAS;
        CHECK(pst_gemm_choose(PST_GEMM_AVX512, 0, 1, 16, 50257, 128) == thin);
        CHECK(pst_gemm_choose(PST_GEMM_AUTO, 0, 1, 16, 5000, 128) == PST_GEMM_OPENBLAS);
        CHECK(pst_gemm_choose(PST_GEMM_AUTO, 0, 1, 65, 50257, 128) == thin);
        CHECK(pst_gemm_choose(PST_GEMM_AUTO, 1, 1, 16, 50257, 128) == PST_GEMM_OPENBLAS);
        CHECK(pst_gemm_choose(PST_GEMM_AVX512, 0, 1, 4, 50257, 128) == thin);
        CHECK(pst_gemm_choose(PST_GEMM_AUTO, 0, 0, 4, 3072, 768) == thin);
        CHECK(pst_gemm_choose(PST_GEMM_AUTO, 0, 0, 4, 384, 128) == PST_GEMM_OPENBLAS);
        CHECK(pst_gemm_choose(PST_GEMM_AUTO, 0, 0, 64, 3072, 768) == thin);
        CHECK(pst_gemm_choose(PST_GEMM_AUTO, 0, 0, 16, 128, 128) == thin);
        CHECK(pst_gemm_choose(PST_GEMM_AUTO, 0, 0, 16, 50, 30) == PST_GEMM_OPENBLAS);
        CHECK(pst_gemm_choose(PST_GEMM_AUTO, 0, 0, 65, 3072, 768) == thin);
        CHECK(pst_gemm_choose(PST_GEMM_AUTO, 1, 0, 16, 3072, 768) == PST_GEMM_OPENBLAS);
    }
    /* avx2 asked for: the AVX2 kernel for every M <= 8, every output-layer shape and every
     * small product (any CPU with AVX2 + FMA), else OpenBLAS */
    CHECK(pst_gemm_choose(PST_GEMM_AVX2, 1, 0, 8, 10, 10) ==
          (pst_gemm_avx2_available() ? PST_GEMM_AVX2 : PST_GEMM_OPENBLAS));
    CHECK(pst_gemm_choose(PST_GEMM_AVX2, 0, 1, 64, 10, 10) ==
          (pst_gemm_avx2_available() ? PST_GEMM_AVX2 : PST_GEMM_OPENBLAS));
    CHECK(pst_gemm_choose(PST_GEMM_AVX2, 0, 0, 9, 3072, 768) ==
          (pst_gemm_avx2_available() ? PST_GEMM_AVX2 : PST_GEMM_OPENBLAS));
    CHECK(pst_gemm_choose(PST_GEMM_AVX2, 0, 0, 65, 3072, 768) ==
          (pst_gemm_avx2_available() ? PST_GEMM_AVX2 : PST_GEMM_OPENBLAS));
    if (pst_gemm_avx2_available() && !pst_gemm_avx512_available()) {
        /* auto without AVX-512F: the AVX2 packed kernel for training's products (from 4 MFLOP) */
        CHECK(pst_gemm_choose(PST_GEMM_AUTO, 0, 0, 1024, 2304, 768) == PST_GEMM_AVX2);
        CHECK(pst_gemm_choose(PST_GEMM_AUTO, 1, 0, 50257, 128, 140) == PST_GEMM_AVX2);
        CHECK(pst_gemm_choose(PST_GEMM_AUTO, 0, 1, 256, 256, 32) == PST_GEMM_AVX2);
        CHECK(pst_gemm_choose(PST_GEMM_AUTO, 0, 1, 64, 64, 64) == PST_GEMM_OPENBLAS);
        CHECK(pst_gemm_choose(PST_GEMM_AUTO, 1, 0, 2000, 3000, 16) == PST_GEMM_OPENBLAS);
    }
    if (pst_gemm_avx2_available()) { /* the AVX2 output layer with its log-softmax (any CPU with AVX2 + FMA) */
        int lse_shapes[][4] = {{1, 37, 5, 0}, {16, 1000, 128, 0}, {17, 3001, 128, 3}, {40, 2100, 768, 1},
                               {33, 5000, 64, 0}, {5, 16, 1024, 2}, {64, 2053, 130, 1}};
        for (int s = 0; s < 7; s++) check_head_lse(1, lse_shapes[s][0], lse_shapes[s][1], lse_shapes[s][2], lse_shapes[s][3], &rng);
        CHECK(pst_sgemm_avx2_nt_head_lse(4, 10, PST_GEMM_HEAD_MAX_K + 1, NULL, 1, NULL, 1, NULL, NULL, 0, NULL, NULL, NULL,
                                         NULL, NULL) == -1);
        /* the AVX2 kernels on bf16 weights: bit for bit the fp32 ones on the widened values */
        static const int head_shapes[][4] = {{16, 1000, 128, 0}, {16, 700, 768, 0}, {9, 4000, 130, 1}, {40, 517, 300, 2},
                                {33, 5000, 128, 0}, {64, 250, 1024, 3}};
        check_bf16_shapes(1, BF16_HEAD, BF16_HEAD, head_shapes, 6, &rng);
        static const int small_shapes[][4] = {{16, 768, 768, 0}, {9, 100, 130, 3}, {64, 300, 257, 0}, {33, 65, 129, 1},
                                 {13, 777, 1001, 2}, {20, 15, 70, 1}};
        check_bf16_shapes(1, BF16_SMALL, BF16_SMALL, small_shapes, 6, &rng);
        check_bf16_shapes(1, BF16_THIN_NN, BF16_THIN_NT, bf16_thin_shapes, 6, &rng);
        CHECK(pst_sgemm_avx2_thin_bf16(0, PST_GEMM_SMALL_MAX + 1, 10, 10, NULL, 10, NULL, 10, 0.0f, NULL, 10) == -1);
        CHECK(pst_sgemm_avx2_thin_bf16(1, PST_GEMM_THIN_MAX + 1, 10, 10, NULL, 10, NULL, 10, 0.0f, NULL, 10) == -1);
        CHECK(pst_sgemm_avx2_nt_head_bf16(4, 10, PST_GEMM_HEAD_MAX_K + 1, NULL, 1, NULL, 1, NULL, 10, NULL, NULL) == -1);
    }
    /* From inside a parallel region (each thread its own product): the kernel runs
     * single-threaded there and the results are still exact. */
    for (int kk = 0; kk < n_kernels; kk++) {
        if (kernels[kk] != PST_GEMM_AVX512 && kernels[kk] != PST_GEMM_AVX2) continue;
        int bad = 0;
#pragma omp parallel num_threads(2) reduction(+ : bad)
        {
            pst_rng r = pst_rng_split(&rng, (uint64_t)omp_get_thread_num());
            bad += check_product(kernels[kk], omp_get_thread_num(), 1, 70, 90, 100, 1.0f, 0.0f, 0, 0, &r) +
                   check_product(kernels[kk], 0, omp_get_thread_num(), 5, 900, 300, 1.0f, 0.0f, 0, 0, &r);
        }
        CHECK(bad == 0);
    }

    /* The selection: env is read per call; openblas always wins when requested, and
     * avx512 is only chosen where available (elsewhere the auto rule). */
    CHECK(pst_gemm_choose(PST_GEMM_OPENBLAS, 0, 0, 1024, 1024, 1024) == PST_GEMM_OPENBLAS);
    CHECK(pst_gemm_choose(PST_GEMM_AVX512, 0, 0, 1024, 1024, 1024) ==
          (pst_gemm_avx512_available() ? PST_GEMM_AVX512 : pst_gemm_choose(PST_GEMM_AUTO, 0, 0, 1024, 1024, 1024)));
    /* OpenBLAS's kernel family: tuned for AVX-512 or AVX2, or neither (a CPU it does not
     * know: ours at every shape) */
    const char *core = pst_gemm_openblas_core();
    int avx2_core = strcasecmp(core, "haswell") == 0 || strcasecmp(core, "zen") == 0;
    int avx512_core = strcasecmp(core, "cooperlake") == 0 || strcasecmp(core, "skylakex") == 0 ||
                      strcasecmp(core, "sapphirerapids") == 0;
    int untuned = pst_gemm_avx512_available() && !avx2_core && !avx512_core;
    CHECK(pst_gemm_choose(PST_GEMM_AUTO, 0, 0, 1, 300, 200) ==
          (untuned ? PST_GEMM_AVX512 : PST_GEMM_OPENBLAS));
    CHECK(pst_gemm_choose(PST_GEMM_AUTO, 1, 0, 32, 16, 64) ==
          (untuned ? PST_GEMM_AVX512 : PST_GEMM_OPENBLAS));

    CHECK(pst_gemm_choose(PST_GEMM_AUTO, 0, 1, 4, 50257, 768) ==
          (pst_gemm_avx512_available() ? PST_GEMM_AVX512
           : pst_gemm_avx2_available() ? PST_GEMM_AVX2
                                       : PST_GEMM_OPENBLAS));
    CHECK(pst_gemm_choose(PST_GEMM_AUTO, 0, 1, 16, 50257, 128) ==
          (pst_gemm_avx512_available() ? PST_GEMM_AVX512
           : pst_gemm_avx2_available() ? PST_GEMM_AVX2
                                       : PST_GEMM_OPENBLAS));
    /* Large products: ours where OpenBLAS runs an AVX2 kernel on a full-width AVX-512
     * core (512/256-bit FMA throughput ~2), OpenBLAS where it runs an AVX-512 kernel or
     * the core splits 512-bit FMAs (~1). The probe runs once: the same value after. */
    double ratio = pst_cpu_fma512_ratio();
    CHECK(pst_cpu_fma512_ratio() == ratio);
    if (pst_gemm_avx512_available()) {
        CHECK(ratio > 0.5 && ratio < 3);
        pst_gemm_kernel large = pst_gemm_choose(PST_GEMM_AUTO, 0, 0, 1024, 2304, 768);
        if (avx512_core || (avx2_core && ratio < 1.5)) CHECK(large == PST_GEMM_OPENBLAS);
        if (avx2_core && ratio >= 1.5) CHECK(large == PST_GEMM_AVX512);
        if (!avx512_core && !avx2_core) CHECK(large == PST_GEMM_AVX512);
        /* a decoding batch's projection (8 < M <= 64, A·B) follows the same rule */
        CHECK(pst_gemm_choose(PST_GEMM_AUTO, 0, 0, 20, 2304, 768) == large);
        CHECK(pst_gemm_choose(PST_GEMM_AUTO, 1, 0, 20, 2304, 768) ==
              (untuned ? PST_GEMM_AVX512 : PST_GEMM_OPENBLAS));
        printf("  512/256-bit FMA throughput %.2f, OpenBLAS %s: large products on %s\n", ratio,
               core, large == PST_GEMM_AVX512 ? "ours" : "OpenBLAS");
    } else {
        CHECK(ratio == 0);
    }
    setenv("POSTERIOR_GEMM", "openblas", 1);
    CHECK(pst_gemm_requested() == PST_GEMM_OPENBLAS);
    setenv("POSTERIOR_GEMM", "avx512", 1);
    CHECK(pst_gemm_requested() == PST_GEMM_AVX512);
    setenv("POSTERIOR_GEMM", "avx2", 1);
    CHECK(pst_gemm_requested() == PST_GEMM_AVX2);
    setenv("POSTERIOR_GEMM", "fast", 1);
    CHECK(pst_gemm_requested() == -1);
    unsetenv("POSTERIOR_GEMM");
    CHECK(pst_gemm_requested() == PST_GEMM_AUTO);
    /* pst_sgemm itself, under each setting */
    const char *settings[] = {"auto", "openblas", "avx512", "bogus"};
    for (int s = 0; s < 4; s++) {
        setenv("POSTERIOR_GEMM", settings[s], 1);
        float A[6] = {1, 2, 3, 4, 5, 6}, B[6] = {1, 0, -1, 2, 0.5f, 1}, C[4];
        /* [2x3]·[3x2] = [[1·1+2·(-1)+3·0.5, 0+4+3], [1-5+3, 0+10+6]] */
        pst_sgemm(0, 0, 2, 2, 3, 1.0f, A, 3, B, 2, 0.0f, C, 2);
        CHECK_NEAR(C[0], 0.5, 1e-6);
        CHECK_NEAR(C[1], 7.0, 1e-6);
        CHECK_NEAR(C[2], 2.0, 1e-6);
        CHECK_NEAR(C[3], 16.0, 1e-6);
    }
    unsetenv("POSTERIOR_GEMM");
    return check_report();
}
