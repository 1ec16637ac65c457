/* Private to the prior layer: the GPT-2 layer kernels of gpt2.c that the KV-cache
 * decoder (sample.c) runs too, so that sampling, scoring and training compute the
 * same numbers with the same code. Shapes: N rows, C channels, row-major. */
#ifndef POSTERIOR_PRIOR_GPT2_INTERNAL_H
#define POSTERIOR_PRIOR_GPT2_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

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

/* e^x to ~1 ulp for x in [-87, 88] (clamped outside), written so that loops over it
 * vectorise without -ffast-math, on plain x86-64 (SSE2) too: x = n·ln2 + r,
 * |r| <= ln2/2, e^r by Cephes' degree-6 polynomial, 2^n by building the exponent bits
 * from the low bits of t = x·log2(e) + 1.5·2^23, which hold n (integer arithmetic on the
 * float's bits, no float-to-int conversion: that and its NaN guard kept SSE2 scalar). */
static inline float pst_exp_fast(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float t = x * 1.44269504088896341f + 12582912.0f;
    float n = t - 12582912.0f; /* x·log2(e) rounded to nearest, in [-126, 127] */
    float r = x - n * 0.693359375f + n * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union { float f; uint32_t u; } bits = {.f = t}, two_n;
    two_n.u = (bits.u - 0x4B400000u + 127u) << 23; /* NaN x: any bits, p is NaN */
    return p * two_n.f;
}

/* tanh u = 1 − 2/(e^{2u} + 1), absolute error ~1e-7 */
static inline float pst_tanh_fast(float u) { return 1.0f - 2.0f / (pst_exp_fast(2.0f * u) + 1.0f); }

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
