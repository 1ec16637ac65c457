/* The AdamW update (prior/optim.c) 16 floats at a time with AVX-512: sqrtf does not
 * vectorise under -fmath-errno, hence by hand. Compiled for AVX-512 by a target
 * attribute, so the build needs no -march=native; pst_adamw_update calls it only
 * after pst_cpu_has_avx512bw_vl(). Same operations, in the same order, as the scalar
 * loop there:
 *   g ← g·grad_scale
 *   p ← p·f (f = decay where the mask is set, else 1)
 *   m ← β1·m + (1 − β1)·g,  v ← β2·v + (1 − β2)·g·g
 *   p ← p − step_size · m / (√v / √(1 − β2ᵗ) + eps) */
#include "prior/optim_kernels.h"

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>

__attribute__((target("avx512f,avx512bw,avx512vl,fma"))) size_t
pst_adamw_update_avx512(const pst_adamw_coef *c, float *params, const float *grads,
                        const unsigned char *decay_mask, float *m, float *v, size_t i,
                        size_t end) {
    __m512 vb1 = _mm512_set1_ps(c->b1), vb1c = _mm512_set1_ps(1.0f - c->b1);
    __m512 vb2 = _mm512_set1_ps(c->b2), vb2c = _mm512_set1_ps(1.0f - c->b2);
    __m512 vdecay = _mm512_set1_ps(c->decay), vone = _mm512_set1_ps(1.0f);
    __m512 vstep = _mm512_set1_ps(c->step_size), vbc2 = _mm512_set1_ps(c->bc2_sqrt);
    __m512 veps = _mm512_set1_ps(c->eps), vscale = _mm512_set1_ps(c->grad_scale);
    for (; i + 16 <= end; i += 16) {
        __m512 g = _mm512_mul_ps(_mm512_loadu_ps(grads + i), vscale), p = _mm512_loadu_ps(params + i);
        __m512 f = vdecay;
        if (decay_mask) {
            __m128i mk = _mm_loadu_si128((const __m128i *)(decay_mask + i));
            __mmask16 on = _mm_cmpneq_epi8_mask(mk, _mm_setzero_si128());
            f = _mm512_mask_blend_ps(on, vone, vdecay);
        }
        p = _mm512_mul_ps(p, f);
        __m512 mi = _mm512_fmadd_ps(_mm512_loadu_ps(m + i), vb1, _mm512_mul_ps(vb1c, g));
        __m512 vi = _mm512_fmadd_ps(_mm512_loadu_ps(v + i), vb2,
                                    _mm512_mul_ps(_mm512_mul_ps(vb2c, g), g));
        _mm512_storeu_ps(m + i, mi);
        _mm512_storeu_ps(v + i, vi);
        __m512 denom = _mm512_add_ps(_mm512_div_ps(_mm512_sqrt_ps(vi), vbc2), veps);
        p = _mm512_fnmadd_ps(vstep, _mm512_div_ps(mi, denom), p);
        _mm512_storeu_ps(params + i, p);
    }
    return i;
}

#else

size_t pst_adamw_update_avx512(const pst_adamw_coef *c, float *params, const float *grads,
                               const unsigned char *decay_mask, float *m, float *v, size_t i,
                               size_t end) {
    (void)c, (void)params, (void)grads, (void)decay_mask, (void)m, (void)v, (void)end;
    return i;
}

#endif
