/* Row loops of exp over logits (prior/exp_kernels.h) in three variants, the one for
 * this CPU chosen per call: AVX-512 (F, DQ, BW, VL + FMA: what a -march=native build
 * gave these loops on an AVX-512 machine), AVX2 + FMA, and plain x86-64. The default
 * build assumes only x86-64, so without these its vocabulary-sized softmax runs 4
 * floats at a time instead of 16 (docs/benchmarks.md, "Portable default vs native"). */
#include "prior/exp_kernels.h"

#include <math.h>
#include <stddef.h>
#include <stdint.h>

#include "base/cpu.h"
#include "prior/gpt2_internal.h"

#define KERNEL(name) name##_default
#define KERNEL_TARGET
#include "prior/exp_kernels_body.h"
#undef KERNEL
#undef KERNEL_TARGET

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define PST_EXP_DISPATCH 1
#define KERNEL(name) name##_avx2
#define KERNEL_TARGET __attribute__((target("avx2,fma")))
#include "prior/exp_kernels_body.h"
#undef KERNEL
#undef KERNEL_TARGET
#define KERNEL(name) name##_avx512
#define KERNEL_TARGET __attribute__((target("avx512f,avx512dq,avx512bw,avx512vl,avx2,fma")))
#include "prior/exp_kernels_body.h"
#undef KERNEL
#undef KERNEL_TARGET
#endif

/* 2: AVX-512, 1: AVX2 + FMA, 0: neither (asked of the CPU once; a race only writes
 * the same value twice) */
static int cpu_level(void) {
    static int level = -1;
    if (level < 0) level = pst_cpu_has_avx512_dq_bw_vl() ? 2 : pst_cpu_has_avx2_fma() ? 1 : 0;
    return level;
}

#ifdef PST_EXP_DISPATCH
#define DISPATCH(name, ...)                                                                 \
    (cpu_level() == 2 ? name##_avx512(__VA_ARGS__)                                         \
                      : cpu_level() == 1 ? name##_avx2(__VA_ARGS__) : name##_default(__VA_ARGS__))
#else
#define DISPATCH(name, ...) name##_default(__VA_ARGS__)
#endif

float pst_row_max(const float *x, int n) { return DISPATCH(row_max, x, n); }
float pst_row_sum_exp(const float *x, int n, float mx) { return DISPATCH(row_sum_exp, x, n, mx); }
float pst_row_exp(const float *x, float *y, int n, float mx) { return DISPATCH(row_exp, x, y, n, mx); }
void pst_row_scale_exp(float *x, int n, float mx, float scale) {
    DISPATCH(row_scale_exp, x, n, mx, scale);
}
void pst_gelu_span(float *out, const float *inp, size_t n) { DISPATCH(gelu, out, inp, n); }
void pst_gelu_backward_span(float *dinout, const float *inp, size_t n) { DISPATCH(gelu_backward, dinout, inp, n); }
