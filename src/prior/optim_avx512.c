/* The AdamW update (prior/optim.c) 16 floats at a time with AVX-512, or 8 with AVX2 +
 * FMA: sqrtf does not vectorise under -fmath-errno, hence by hand. Compiled for their
 * instruction sets by target attributes, so the build needs no -march=native;
 * pst_adamw_update calls them only after pst_cpu_has_avx512bw_vl() or
 * pst_cpu_has_avx2_fma(). Same operations, in the same order, as the scalar loop there:
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

/* The same 8 floats at a time with AVX2 + FMA (a CPU without AVX-512: AMD Zen 2 and 3) */
__attribute__((target("avx2,fma"))) size_t
pst_adamw_update_avx2(const pst_adamw_coef *c, float *params, const float *grads,
                      const unsigned char *decay_mask, float *m, float *v, size_t i, size_t end) {
    __m256 vb1 = _mm256_set1_ps(c->b1), vb1c = _mm256_set1_ps(1.0f - c->b1);
    __m256 vb2 = _mm256_set1_ps(c->b2), vb2c = _mm256_set1_ps(1.0f - c->b2);
    __m256 vdecay = _mm256_set1_ps(c->decay), vone = _mm256_set1_ps(1.0f);
    __m256 vstep = _mm256_set1_ps(c->step_size), vbc2 = _mm256_set1_ps(c->bc2_sqrt);
    __m256 veps = _mm256_set1_ps(c->eps), vscale = _mm256_set1_ps(c->grad_scale);
    for (; i + 8 <= end; i += 8) {
        __m256 g = _mm256_mul_ps(_mm256_loadu_ps(grads + i), vscale), p = _mm256_loadu_ps(params + i);
        __m256 f = vdecay;
        if (decay_mask) { /* 8 mask bytes widened to lanes: all ones where the byte is 0 */
            __m256i mk = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(decay_mask + i)));
            __m256 off = _mm256_castsi256_ps(_mm256_cmpeq_epi32(mk, _mm256_setzero_si256()));
            f = _mm256_blendv_ps(vdecay, vone, off);
        }
        p = _mm256_mul_ps(p, f);
        __m256 mi = _mm256_fmadd_ps(_mm256_loadu_ps(m + i), vb1, _mm256_mul_ps(vb1c, g));
        __m256 vi = _mm256_fmadd_ps(_mm256_loadu_ps(v + i), vb2, _mm256_mul_ps(_mm256_mul_ps(vb2c, g), g));
        _mm256_storeu_ps(m + i, mi);
        _mm256_storeu_ps(v + i, vi);
        __m256 denom = _mm256_add_ps(_mm256_div_ps(_mm256_sqrt_ps(vi), vbc2), veps);
        p = _mm256_fnmadd_ps(vstep, _mm256_div_ps(mi, denom), p);
        _mm256_storeu_ps(params + i, p);
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

size_t pst_adamw_update_avx2(const pst_adamw_coef *c, float *params, const float *grads,
                             const unsigned char *decay_mask, float *m, float *v, size_t i, size_t end) {
    (void)c, (void)params, (void)grads, (void)decay_mask, (void)m, (void)v, (void)end;
    return i;
}

#endif
