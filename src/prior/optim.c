/* Optimisation: AdamW (as torch.optim.AdamW), GPT-2's weight-decay mask, clipping by
 * global norm (as torch.nn.utils.clip_grad_norm_), warmup + cosine learning rate. */
#include "base/cpu.h"
#include "posterior/prior.h"
#include "prior/optim_kernels.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int pst_adamw_create(pst_adamw *opt, size_t num_params, float beta1, float beta2, float eps,
                     float weight_decay, pst_error *err) {
    memset(opt, 0, sizeof *opt);
    if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1))
        return pst_fail(err, "AdamW: betas must be in [0, 1), got %g, %g", (double)beta1,
                        (double)beta2);
    if (!(eps >= 0) || !(weight_decay >= 0))
        return pst_fail(err, "AdamW: eps (%g) and weight_decay (%g) must be >= 0", (double)eps,
                        (double)weight_decay);
    opt->beta1 = beta1;
    opt->beta2 = beta2;
    opt->eps = eps;
    opt->weight_decay = weight_decay;
    /* in 2 MB pages where the kernel allows, as the parameters (prior/gpt2.c) */
    if (num_params > SIZE_MAX / sizeof(float))
        return pst_fail(err, "AdamW: %zu parameters overflow the moment buffers", num_params);
    size_t bytes = num_params * sizeof(float);
    opt->m = pst_large_alloc(bytes, err);
    opt->v = opt->m ? pst_large_alloc(bytes, err) : NULL;
    if (opt->v) memset(opt->m, 0, bytes), memset(opt->v, 0, bytes);
    if (!opt->v) {
        pst_adamw_free(opt);
        return pst_fail_context(err, "AdamW moments for %zu parameters", num_params);
    }
    return 0;
}

void pst_adamw_free(pst_adamw *opt) {
    if (!opt) return;
    free(opt->m);
    free(opt->v);
    memset(opt, 0, sizeof *opt);
}

/* With t = step + 1 and g = grads·grad_scale (in float, as if grads had been scaled):
 *   θ ← θ·(1 − lr·wd)                         (decoupled decay, masked)
 *   m ← β1·m + (1 − β1)·g,  v ← β2·v + (1 − β2)·g²
 *   θ ← θ − (lr / (1 − β1ᵗ)) · m / (√v / √(1 − β2ᵗ) + eps)
 * in the same order and precision as torch.optim.AdamW (single-tensor path). */
void pst_adamw_update(pst_adamw *opt, float *params, const float *grads, float grad_scale,
                      const unsigned char *decay_mask, size_t n, float lr) {
    opt->step++;
    double bc1 = 1.0 - pow(opt->beta1, (double)opt->step);
    double bc2 = 1.0 - pow(opt->beta2, (double)opt->step);
    float step_size = (float)(lr / bc1), bc2_sqrt = (float)sqrt(bc2);
    float decay = (float)(1.0 - (double)lr * opt->weight_decay);
    float b1 = opt->beta1, b2 = opt->beta2, eps = opt->eps;
    float *m = opt->m, *v = opt->v;
    pst_adamw_coef c = {b1, b2, eps, decay, step_size, bc2_sqrt, grad_scale};
    /* AVX-512 or AVX2 by hand where the CPU has it (prior/optim_avx512.c), the scalar
     * loop for the rest of each block and on other CPUs */
    int avx512 = pst_cpu_has_avx512bw_vl(), avx2 = !avx512 && pst_cpu_has_avx2_fma();
    size_t nblk = (n + 4095) / 4096;
#pragma omp parallel for schedule(static)
    for (size_t blk = 0; blk < nblk; blk++) {
        size_t i = blk * 4096, end = i + 4096 < n ? i + 4096 : n;
        if (avx512) i = pst_adamw_update_avx512(&c, params, grads, decay_mask, m, v, i, end);
        else if (avx2) i = pst_adamw_update_avx2(&c, params, grads, decay_mask, m, v, i, end);
        for (; i < end; i++) {
            float g = grads[i] * grad_scale; /* ·1 is exact */
            float p = params[i] * (!decay_mask || decay_mask[i] ? decay : 1.0f);
            float mi = m[i] * b1 + (1.0f - b1) * g;
            float vi = v[i] * b2 + (1.0f - b2) * g * g;
            m[i] = mi;
            v[i] = vi;
            params[i] = p - step_size * (mi / (sqrtf(vi) / bc2_sqrt + eps));
        }
    }
}

unsigned char *pst_gpt2_decay_mask(const pst_gpt2 *m, pst_error *err) {
    unsigned char *mask = pst_calloc(m->num_params, 1, err);
    if (!mask) return NULL;
    size_t s[PST_GPT2_NUM_TENSORS];
    pst_gpt2_param_sizes(&m->config, s);
    /* 2-D weights: wte 0, wpe 1, qkvw 4, attprojw 6, fcw 10, fcprojw 12 */
    static const unsigned char decayed[PST_GPT2_NUM_TENSORS] = {1, 1, 0, 0, 1, 0, 1, 0,
                                                                 0, 0, 1, 0, 1, 0, 0, 0};
    size_t off = 0;
    for (int i = 0; i < PST_GPT2_NUM_TENSORS; i++) {
        if (decayed[i]) memset(mask + off, 1, s[i]);
        off += s[i];
    }
    return mask;
}

/* norm = ‖g‖₂ over all n */
float pst_grad_norm(const float *grads, size_t n) {
    double s = 0;
    int nblk = (int)((n + 4095) / 4096);
    /* fixed blocks summed in order: deterministic for any thread count */
    double *part = malloc((size_t)(nblk ? nblk : 1) * sizeof(double));
    if (part) {
#pragma omp parallel for schedule(static)
        for (int b = 0; b < nblk; b++) {
            size_t i0 = (size_t)b * 4096, i1 = i0 + 4096 < n ? i0 + 4096 : n;
            double a = 0;
#pragma omp simd reduction(+ : a)
            for (size_t i = i0; i < i1; i++) a += (double)grads[i] * grads[i];
            part[b] = a;
        }
        for (int b = 0; b < nblk; b++) s += part[b];
        free(part);
    } else {
        for (size_t i = 0; i < n; i++) s += (double)grads[i] * grads[i];
    }
    return (float)sqrt(s);
}

/* max_norm / (norm + 1e-6) where that is below 1 (and max_norm > 0), else 1 */
float pst_clip_scale(float norm, float max_norm) {
    float coef = max_norm / (norm + 1e-6f);
    return max_norm > 0 && coef < 1.0f ? coef : 1.0f;
}

/* step in [0, warmup): lr_max·(step + 1)/warmup; then
 * lr_min + ½(1 + cos(π·(step − warmup)/(total − warmup)))·(lr_max − lr_min);
 * lr_min from total on. */
float pst_lr_schedule(long step, long warmup, long total, float lr_max, float lr_min) {
    if (step < warmup) return lr_max * (float)(step + 1) / (float)warmup;
    if (step >= total || total <= warmup) return lr_min;
    double ratio = (double)(step - warmup) / (double)(total - warmup);
    double coef = 0.5 * (1.0 + cos(M_PI * ratio));
    return (float)(lr_min + coef * (lr_max - lr_min));
}
