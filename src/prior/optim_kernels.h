/* Private to the prior layer: the AdamW update's vector kernel (prior/optim_avx512.c),
 * called by pst_adamw_update (prior/optim.c) only when base/cpu.h says the CPU can. */
#ifndef POSTERIOR_PRIOR_OPTIM_KERNELS_H
#define POSTERIOR_PRIOR_OPTIM_KERNELS_H

#include <stddef.h>

/* One AdamW step's scalars (see pst_adamw_update). */
typedef struct {
    float b1, b2, eps;
    float decay;     /* 1 − lr·wd */
    float step_size; /* lr / (1 − β1ᵗ) */
    float bc2_sqrt;  /* √(1 − β2ᵗ) */
    float grad_scale; /* g = grads·grad_scale (the clipping factor, or 1) */
} pst_adamw_coef;

/* The update of pst_adamw_update on elements [i, end) in groups of 16 (AVX-512F, BW,
 * VL); returns the first index it did not update (the caller finishes the tail).
 * Returns i unchanged where the kernel is not compiled in (not x86-64 GCC/clang). */
size_t pst_adamw_update_avx512(const pst_adamw_coef *c, float *params, const float *grads,
                               const unsigned char *decay_mask, float *m, float *v, size_t i,
                               size_t end);
/* The same in groups of 8 (AVX2 + FMA). */
size_t pst_adamw_update_avx2(const pst_adamw_coef *c, float *params, const float *grads,
                             const unsigned char *decay_mask, float *m, float *v, size_t i, size_t end);

#endif
