/* The bodies of prior/bf16_kernels.c, included once per instruction set with
 * KERNEL(name) naming the variant and KERNEL_TARGET its function attribute. */

/* dst[i] = bf16 rounding of src[i], for i < n */
KERNEL_TARGET static void KERNEL(round_run)(uint16_t *dst, const float *src, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        uint32_t u;
        memcpy(&u, src + i, sizeof u);
        dst[i] = pst_bf16_round_bits(u);
    }
}

#if KERNEL_PRODUCTS /* the plain variant only: with AVX-512, base's kernels run the products */
/* Columns j0 .. j1 of out for M (<= BF16_ROWS) rows: acc[i][j] = Σ_k A[i][k]·W[k][j]. W
 * goes past accumulators kept in L1 (chunks of cw columns, M·cw <= BF16_ACC floats) 8
 * rows at a time, as base/gemm_avx512.c's thin_nn: widened in the loop for up to 4 rows
 * of A, else widened once into wf (8·cw <= BF16_ACC floats, L1) for all M rows. */
KERNEL_TARGET static void KERNEL(nn_rows)(int M, int j0, int j1, int K, const float *A,
                                          const uint16_t *W, int N, const float *b, float *out,
                                          int accumulate) {
    float acc[BF16_ACC] __attribute__((aligned(64)));
    float wf[BF16_ACC] __attribute__((aligned(64)));
    int cw_max = BF16_ACC / M, cap = M <= 4 ? BF16_ACC / 4 : BF16_ACC / 8; /* acc (+ wf) <= 32 KB */
    cw_max = cw_max < cap ? cw_max - cw_max % 16 : cap;
    for (int c0 = j0; c0 < j1; c0 += cw_max) {
        int cw = c0 + cw_max < j1 ? cw_max : j1 - c0;
        memset(acc, 0, (size_t)M * cw * sizeof(float));
        int k = 0;
        if (M <= 4) /* few rows: widen in the loop, 8 rows of W per pass over acc */
            for (; k + 8 <= K; k += 8) {
                const uint16_t *w = W + (size_t)k * N + c0;
                for (int i = 0; i < M; i++) {
                    const float *x = A + (size_t)i * K + k;
                    float *ac = acc + i * cw;
#pragma omp simd
                    for (int j = 0; j < cw; j++) {
                        float s = 0;
                        for (int u = 0; u < 8; u++) s += x[u] * pst_bf16_to_f32(w[j + (size_t)u * N]);
                        ac[j] += s;
                    }
                }
            }
        for (; k < K; k += 8) { /* more rows: widen 8 rows of W once into wf, for all M rows */
            int kn = K - k < 8 ? K - k : 8;
            for (int u = 0; u < 8; u++) { /* rows past K widen as zeros */
                const uint16_t *w = W + (size_t)(k + u) * N + c0;
                float *f = wf + u * cw;
                if (u < kn) {
#pragma omp simd
                    for (int j = 0; j < cw; j++) f[j] = pst_bf16_to_f32(w[j]);
                } else {
                    memset(f, 0, cw * sizeof(float));
                }
            }
            for (int i = 0; i < M; i++) {
                const float *x = A + (size_t)i * K + k;
                float xs[8], *ac = acc + i * cw;
                for (int u = 0; u < 8; u++) xs[u] = u < kn ? x[u] : 0.0f;
#pragma omp simd
                for (int j = 0; j < cw; j++)
                    ac[j] += xs[0] * wf[j] + xs[1] * wf[cw + j] + xs[2] * wf[2 * cw + j] + xs[3] * wf[3 * cw + j] +
                             xs[4] * wf[4 * cw + j] + xs[5] * wf[5 * cw + j] + xs[6] * wf[6 * cw + j] +
                             xs[7] * wf[7 * cw + j];
            }
        }
        for (int i = 0; i < M; i++) {
            float *o = out + (size_t)i * N + c0, *ac = acc + i * cw;
            const float *bb = b + c0;
            if (accumulate)
#pragma omp simd
                for (int j = 0; j < cw; j++) o[j] += ac[j] + bb[j];
            else
#pragma omp simd
                for (int j = 0; j < cw; j++) o[j] = ac[j] + bb[j];
        }
    }
}

/* Rows v0 .. v1 of W against all N rows of x: out[i][v] = x[i]·W[v]. Eight rows of W at
 * a time are widened into wf (L1; C <= BF16_NT_MAX_C) and each row of x meets all
 * eight: eight independent sums per load of x. (Widening in the loop instead measured
 * the same at one row: 4.06 against 4.1 ms for GPT-2 small's output layer, one thread.) */
KERNEL_TARGET static void KERNEL(nt_rows)(int v0, int v1, const float *x, const uint16_t *W, int N,
                                          int C, int V, float *out) {
    float wf[8 * BF16_NT_MAX_C] __attribute__((aligned(64)));
    for (int vb = v0; vb < v1; vb += 8) {
        int nv = v1 - vb < 8 ? v1 - vb : 8;
        for (int u = 0; u < 8; u++) { /* rows past v1 widen as zeros, never stored */
            const uint16_t *w = W + (size_t)(vb + (u < nv ? u : 0)) * C;
            float *f = wf + (size_t)u * C;
#pragma omp simd
            for (int c = 0; c < C; c++) f[c] = pst_bf16_to_f32(w[c]);
        }
        const float *f0 = wf, *f1 = f0 + C, *f2 = f1 + C, *f3 = f2 + C, *f4 = f3 + C, *f5 = f4 + C,
                    *f6 = f5 + C, *f7 = f6 + C;
        for (int i = 0; i < N; i++) {
            const float *xi = x + (size_t)i * C;
            float s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
#pragma omp simd reduction(+ : s0, s1, s2, s3, s4, s5, s6, s7)
            for (int c = 0; c < C; c++) {
                float xc = xi[c];
                s0 += xc * f0[c], s1 += xc * f1[c], s2 += xc * f2[c], s3 += xc * f3[c];
                s4 += xc * f4[c], s5 += xc * f5[c], s6 += xc * f6[c], s7 += xc * f7[c];
            }
            float s[8] = {s0, s1, s2, s3, s4, s5, s6, s7}, *o = out + (size_t)i * V + vb;
            for (int u = 0; u < nv; u++) o[u] = s[u];
        }
    }
}
#endif
