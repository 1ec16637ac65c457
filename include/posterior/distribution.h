/* posterior — target layer: the distribution interface (docs/design.md, "Glossary").
 *
 * pst_distribution is what estimators, samplers and trainers see of a model: sample a
 * batch (with log q, the log-prob under the distribution really drawn from, and the raw
 * model log-prob), score log-probs, and, for trainable policies, accumulate
 * ∇θ Σ_i c_i·log π_θ(x_i) and take an optimiser step. Implemented by the enumerable toy
 * (include/posterior/toy.h) and by the GPT-2 prior / policy (below). */
#ifndef POSTERIOR_DISTRIBUTION_H
#define POSTERIOR_DISTRIBUTION_H

#include "posterior/base.h"
#include "posterior/prior.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A token sequence that is not owned (a context / prompt). */
typedef struct {
    const int *tokens;
    int n;
} pst_seq;

/* ---- the distribution interface -------------------------------------- */

typedef struct pst_distribution pst_distribution;
struct pst_distribution {
    void *self;
    const char *name;
    /* Draws n sequences, sample i continuing contexts[i] (contexts NULL or
     * contexts[i].n == 0: unconditional). out[i].tokens is malloc'd (free with
     * pst_sample_free); out[i].logprob_proposal = log q, out[i].logprob_model = log π. */
    int (*sample)(void *self, const pst_seq *contexts, int n, pst_rng *rng, pst_sample *out,
                  pst_error *err);
    /* logprob[i] = log π(xs[i] | contexts[i]) under the raw model. */
    int (*score)(void *self, const pst_seq *contexts, const pst_sample *xs, int n,
                 double *logprob, pst_error *err);
    /* Trainable policies only (NULL otherwise). grad += ∇θ Σ_i coef[i]·log π(x_i | c_i);
     * logprob (may be NULL) receives log π(x_i | c_i) of the same forward pass. */
    int (*accumulate)(void *self, const pst_seq *contexts, const pst_sample *xs,
                      const double *coef, int n, double *logprob, pst_error *err);
    void (*zero_grad)(void *self);
    /* One optimiser step that INCREASES Σ coef·log π (gradient ascent), learning rate lr. */
    int (*step)(void *self, double lr, pst_error *err);
    /* A frozen copy of the current model (e.g. to become a proposal q). */
    int (*clone)(void *self, pst_distribution *out, pst_error *err);
    /* Model parameters (and optimiser state) to / from a directory. */
    int (*save)(void *self, const char *dir, pst_error *err);
    int (*load)(void *self, const char *dir, pst_error *err);
    void (*destroy)(void *self);
};

/* Calls d->destroy (if any) and zeroes d. */
void pst_distribution_free(pst_distribution *d);

/* ---- the GPT-2 prior / policy ---------------------------------------- */

typedef struct {
    pst_sample_options sampling; /* temperature / top-k / top-p: log q is the warped log-prob */
    float beta1, beta2, eps, weight_decay, grad_clip;
    int micro_batch;             /* rows per forward/backward (0: all at once) */
} pst_gpt2_policy_options;

void pst_gpt2_policy_options_default(pst_gpt2_policy_options *o);
/* Loads the model directory as a distribution (trainable: AdamW, created lazily). */
int pst_gpt2_distribution_load(const char *dir, const pst_gpt2_policy_options *o,
                               pst_distribution *d, pst_error *err);
/* Wraps an existing model (copied) as a distribution. */
int pst_gpt2_distribution_from(const pst_gpt2 *m, const pst_gpt2_policy_options *o,
                               pst_distribution *d, pst_error *err);

#ifdef __cplusplus
}
#endif

#endif
