/* Private to the prior layer: the GPT-2 layer kernels of gpt2.c that the KV-cache
 * decoder (sample.c) runs too, so that sampling, scoring and training compute the
 * same numbers with the same code. Shapes: N rows, C channels, row-major. */
#ifndef POSTERIOR_PRIOR_GPT2_INTERNAL_H
#define POSTERIOR_PRIOR_GPT2_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "base/exp_fast.h"
#include "base/gemm.h"
#include "posterior/prior.h"

/* Work (elements) below which the kernels stay on the calling thread. */
#define PST_PARALLEL_MIN 65536

/* The largest config this implementation computes (every index stays within
 * int for pst_sgemm's dimensions); pst_gpt2_config_check and config.json. */
#define PST_GPT2_MAX_N_LAYER 4096
#define PST_GPT2_MAX_N_EMBD (1 << 20)
#define PST_GPT2_MAX_N_POSITIONS (1 << 20)
#define PST_GPT2_MAX_VOCAB (1 << 26)

#define PST_GELU_K 0.7978845608028654f /* √(2/π) */

/* ---- vectorisable exp and tanh --------------------------------------- */

/* pst_exp_fast(x): e^x to ~1 ulp (base/exp_fast.h, shared with base's fused output-layer kernel) */

/* tanh u = 1 − 2/(e^{2u} + 1), absolute error ~1e-7 */
static inline float pst_tanh_fast(float u) { return 1.0f - 2.0f / (pst_exp_fast(2.0f * u) + 1.0f); }

/* 1 when the output layer may run base's kernel with the log-softmax: AVX-512, or AVX2 +
 * FMA without it, and POSTERIOR_GEMM not asking for OpenBLAS. */
static inline int pst_fused_head_ok(void) {
    return (pst_gemm_avx512_available() || pst_gemm_avx2_available()) && pst_gemm_requested() != PST_GEMM_OPENBLAS;
}

/* That kernel (pst_sgemm_avx512_nt_head_lse, or pst_sgemm_avx2_nt_head_lse without
 * AVX-512: base/gemm.h) on A [M, K] and wte [N, K], both rows K apart; -1 where it does
 * not run. */
static inline int pst_fused_head_lse(int M, int N, int K, const float *A, const float *wte, const int *targets,
                                     float *C, int ldc, float *chunk_max, float *chunk_sum, float *row_max,
                                     float *row_sum, float *picked) {
    if (!pst_fused_head_ok()) return -1;
    return pst_gemm_avx512_available()
               ? pst_sgemm_avx512_nt_head_lse(M, N, K, A, K, wte, K, targets, C, ldc, chunk_max, chunk_sum, row_max,
                                              row_sum, picked)
               : pst_sgemm_avx2_nt_head_lse(M, N, K, A, K, wte, K, targets, C, ldc, chunk_max, chunk_sum, row_max,
                                            row_sum, picked);
}

/* LayerNorm per row: out = (x − mean)·rstd·w + b, rstd = 1/√(var + eps);
 * mean [N] and rstd [N] are saved when not NULL. */
void pst_layernorm_forward(float *out, float *mean, float *rstd, const float *inp, const float *w,
                           const float *b, int N, int C, float eps);
/* Conv1D: out[N, OC] = inp[N, IC]·W[IC, OC] + b (accumulate: out += ...). */
void pst_linear_forward(float *out, const float *inp, const float *W, const float *b, int N, int IC,
                        int OC, int accumulate);
/* out = ½x(1 + tanh(√(2/π)(x + 0.044715x³))), elementwise over n (out may equal inp). */
void pst_gelu_forward(float *out, const float *inp, size_t n);

#endif
