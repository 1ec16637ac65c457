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
