/* The bodies of prior/bf16_kernels.c, included once per instruction set with
 * KERNEL(name) naming the variant and KERNEL_TARGET its function attribute. */

/* Columns j0 .. j1 of out for M (<= BF16_ROWS) rows: acc[i][j] = Σ_k A[i][k]·W[k][j]. W
 * goes past accumulators kept in L1 (chunks of cw columns, M·cw <= BF16_ACC floats) 4
 * rows at a time, each widened once into wf (4·cw <= BF16_ACC floats, L1) and used by
 * all M rows, as base/gemm_avx512.c's thin_nn. */
KERNEL_TARGET static void KERNEL(nn_rows)(int M, int j0, int j1, int K, const float *A,
                                          const uint16_t *W, int N, const float *b, float *out,
                                          int accumulate) {
    float acc[BF16_ACC] __attribute__((aligned(64)));
    float wf[BF16_ACC] __attribute__((aligned(64)));
    int cw_max = BF16_ACC / M; /* acc and wf together <= 32 KB */
    cw_max = cw_max < BF16_ACC / 4 ? cw_max - cw_max % 16 : BF16_ACC / 4;
    for (int c0 = j0; c0 < j1; c0 += cw_max) {
        int cw = c0 + cw_max < j1 ? cw_max : j1 - c0;
        memset(acc, 0, (size_t)M * cw * sizeof(float));
        for (int k = 0; k < K; k += 4) {
            int kn = K - k < 4 ? K - k : 4;
            for (int u = 0; u < 4; u++) { /* rows past K widen as zeros */
                const uint16_t *w = W + (size_t)(k + u) * N + c0;
                float *f = wf + u * cw;
                if (u < kn) {
#pragma omp simd
                    for (int j = 0; j < cw; j++) f[j] = pst_bf16_to_f32(w[j]);
                } else {
                    memset(f, 0, cw * sizeof(float));
                }
            }
            const float *w0 = wf, *w1 = wf + cw, *w2 = wf + 2 * cw, *w3 = wf + 3 * cw;
            for (int i = 0; i < M; i++) {
                const float *x = A + (size_t)i * K + k;
                float *ac = acc + i * cw, x0 = x[0], x1 = kn > 1 ? x[1] : 0, x2 = kn > 2 ? x[2] : 0,
                      x3 = kn > 3 ? x[3] : 0;
#pragma omp simd
                for (int j = 0; j < cw; j++) ac[j] += x0 * w0[j] + x1 * w1[j] + x2 * w2[j] + x3 * w3[j];
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
 * eight: eight independent sums per load of x. */
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
