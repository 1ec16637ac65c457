/* The bodies of prior/exp_kernels.c, included once per instruction set with
 * KERNEL(name) naming the variant and KERNEL_TARGET its function attribute. */
KERNEL_TARGET static float KERNEL(row_max)(const float *x, int n) {
    float mx = -INFINITY;
#pragma omp simd reduction(max : mx)
    for (int j = 0; j < n; j++) mx = x[j] > mx ? x[j] : mx;
    return mx;
}

KERNEL_TARGET static float KERNEL(row_sum_exp)(const float *x, int n, float mx) {
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < n; j++) s += pst_exp_fast(x[j] - mx);
    return s;
}

KERNEL_TARGET static float KERNEL(row_exp)(const float *x, float *y, int n, float mx) {
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int j = 0; j < n; j++) {
        y[j] = pst_exp_fast(x[j] - mx);
        s += y[j];
    }
    return s;
}

KERNEL_TARGET static void KERNEL(row_scale_exp)(float *x, int n, float mx, float scale) {
#pragma omp simd
    for (int j = 0; j < n; j++) x[j] = scale * pst_exp_fast(x[j] - mx);
}

/* GELU (tanh form), y = ½x(1 + tanh(√(2/π)(x + 0.044715x³))) */
KERNEL_TARGET static void KERNEL(gelu)(float *out, const float *inp, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float x = inp[i];
        out[i] = 0.5f * x * (1.0f + pst_tanh_fast(PST_GELU_K * (x + 0.044715f * x * x * x)));
    }
}

/* dinout ← dinout·y'(x) */
KERNEL_TARGET static void KERNEL(gelu_backward)(float *dinout, const float *inp, size_t n) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) {
        float x = inp[i], u = PST_GELU_K * (x + 0.044715f * x * x * x), th = pst_tanh_fast(u);
        float du = PST_GELU_K * (1.0f + 3.0f * 0.044715f * x * x);
        float g = 0.5f * (1.0f + th) + 0.5f * x * (1.0f - th * th) * du;
        dinout[i] *= g;
    }
}
