/* Private to the prior layer: the loops over a row of logits (vocabulary-sized in the
 * output layer and in sampling, T-sized in attention) that dominate the non-GEMM time,
 * compiled three times (prior/exp_kernels.c): for AVX-512, for AVX2 + FMA and for
 * plain x86-64, the variant picked at run time by the CPU (base/cpu.h). With e(x) =
 * pst_exp_fast(x) (prior/gpt2_internal.h): */
#ifndef POSTERIOR_PRIOR_EXP_KERNELS_H
#define POSTERIOR_PRIOR_EXP_KERNELS_H

#include <stddef.h>

/* max_j x[j] (−∞ for n = 0) */
float pst_row_max(const float *x, int n);
/* Σ_j e(x[j] − mx) */
float pst_row_sum_exp(const float *x, int n, float mx);
/* y[j] = e(x[j] − mx), returns Σ_j y[j] (y may be x) */
float pst_row_exp(const float *x, float *y, int n, float mx);
/* x[j] = scale · e(x[j] − mx) */
void pst_row_scale_exp(float *x, int n, float mx, float scale);
/* out[i] = GELU(inp[i]) (tanh form, through e), out may be inp; on the calling thread */
void pst_gelu_span(float *out, const float *inp, size_t n);
/* dinout[i] *= GELU'(inp[i]); on the calling thread */
void pst_gelu_backward_span(float *dinout, const float *inp, size_t n);

#endif
