/* bfloat16 weights for sampling (prior/sample.c, pst_sample_options.bf16_weights).
 *
 * A bf16 value is the top 16 bits of an fp32 (sign, 8-bit exponent, 7-bit mantissa);
 * pst_bf16_round rounds to nearest, ties to even. It widens to fp32 exactly (shift left
 * by 16), so a product with bf16 weights computes, in fp32, the product with the rounded
 * weights: q, the model with its weight matrices rounded to bf16 (pst_gpt2_round_bf16),
 * only summed in another order. Decoding reads half the bytes per weight.
 *
 * The kernels come in three variants, chosen per call: AVX-512 (F, BW: what a
 * -march=native build gives these loops), AVX2 + FMA, and plain x86-64 (as exp_kernels.c). */
#ifndef POSTERIOR_PRIOR_BF16_KERNELS_H
#define POSTERIOR_PRIOR_BF16_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

uint16_t pst_bf16_round(float x);

/* The same on the bits of an fp32 (branch-free, so that loops of it vectorise): NaN stays
 * a (quiet) NaN; otherwise add half a unit of the kept bits, plus one when the kept value
 * is odd (ties to even), and keep the top 16 bits (overflow gives inf). */
static inline uint16_t pst_bf16_round_bits(uint32_t u) {
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16, quiet = (u >> 16) | 0x0040u;
    return (uint16_t)((u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
}

static inline float pst_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* dst[i] = pst_bf16_round(src[i]) */
void pst_bf16_round_array(uint16_t *dst, const float *src, size_t n);

/* out[N,OC] = inp[N,IC]·W[IC,OC] + b[OC] (or += when accumulate): pst_linear_forward's
 * contract with W in bf16. Threads split the columns; each output is summed by one
 * thread in a fixed order (results do not depend on the thread count). With AVX-512, up
 * to 64 rows go through base's thin and small-product kernels on bf16 (base/gemm.h). */
void pst_linear_forward_bf16(float *out, const float *inp, const uint16_t *W, const float *b, int N,
                             int IC, int OC, int accumulate);

/* out[N,V] = x[N,C]·W[V,C]ᵀ with W in bf16 (the output layer: hidden states times wteᵀ;
 * with AVX-512, up to 8 rows through base's thin kernel on bf16, more through its
 * output-layer kernel). Returns 0, or -1 (out untouched) when C > 2048. */
int pst_matmul_nt_bf16(float *out, const float *x, const uint16_t *W, int N, int C, int V);
/* The same through base's output-layer kernel, with each row's chunks' partials (max, Σ e
 * over PST_GEMM_LSE_COLS tokens, [N][chunks]: base/gemm.h) for the sampler, out's rows ldo
 * apart (V), or grouped (PST_GEMM_LOGITS_GROUPED); 0, or -1 where that kernel does not run
 * (fewer than 8 rows, C > 1024, no AVX-512): then nothing is written and
 * pst_matmul_nt_bf16 computes out (row-major). */
int pst_matmul_nt_bf16_chunks(float *out, int ldo, const float *x, const uint16_t *W, int N, int C, int V,
                              float *chunk_max, float *chunk_sum);

/* Tests: run the plain (0), AVX2 (1) or AVX-512 (2) variant, or choose by the CPU (-1,
 * the default). A level the CPU does not have runs the best one below it. */
void pst_bf16_kernels_force(int level);

#endif
