/* Private to the base layer and the layers above it: the one exp the models use, as a
 * scalar function whose loops vectorise (prior's exp kernels, GELU, attention, the
 * sampler), and its constants, which base/gemm_avx512.c's output layer with the
 * log-softmax uses on 16 lanes (with FMAs: within an ulp of this, not bit for bit). */
#ifndef POSTERIOR_BASE_EXP_FAST_H
#define POSTERIOR_BASE_EXP_FAST_H

#include <stdint.h>

#define PST_EXP_LOG2E 1.44269504088896341f
#define PST_EXP_SHIFTER 12582912.0f /* 1.5·2^23 */
#define PST_EXP_LN2_HI 0.693359375f
#define PST_EXP_LN2_LO 2.12194440e-4f
#define PST_EXP_P0 1.9875691500e-4f
#define PST_EXP_P1 1.3981999507e-3f
#define PST_EXP_P2 8.3334519073e-3f
#define PST_EXP_P3 4.1665795894e-2f
#define PST_EXP_P4 1.6666665459e-1f
#define PST_EXP_P5 5.0000001201e-1f

/* e^x to ~1 ulp for x in [-87, 88] (clamped outside), written so that loops over it
 * vectorise without -ffast-math, on plain x86-64 (SSE2) too: x = n·ln2 + r,
 * |r| <= ln2/2, e^r by Cephes' degree-6 polynomial, 2^n by building the exponent bits
 * from the low bits of t = x·log2(e) + 1.5·2^23, which hold n (integer arithmetic on the
 * float's bits, no float-to-int conversion: that and its NaN guard kept SSE2 scalar). */
static inline float pst_exp_fast(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    float t = x * PST_EXP_LOG2E + PST_EXP_SHIFTER;
    float n = t - PST_EXP_SHIFTER; /* x·log2(e) rounded to nearest, in [-126, 127] */
    float r = x - n * PST_EXP_LN2_HI + n * PST_EXP_LN2_LO;
    float p = PST_EXP_P0;
    p = p * r + PST_EXP_P1;
    p = p * r + PST_EXP_P2;
    p = p * r + PST_EXP_P3;
    p = p * r + PST_EXP_P4;
    p = p * r + PST_EXP_P5;
    p = p * r * r + r + 1.0f;
    union { float f; uint32_t u; } bits = {.f = t}, two_n;
    two_n.u = (bits.u - 0x4B400000u + 127u) << 23; /* NaN x: any bits, p is NaN */
    return p * two_n.f;
}

#endif
