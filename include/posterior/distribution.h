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

/* Token-level training (PPO): called once per sequence i of a pass with its continuation's
 * T per-token log-probs logprob[t] = log π(x_t | c, x_<t) and the hidden states hidden[t·C..]
 * (width C) of the positions that predict x_t. In a backward pass it writes the gradient of
 * an objective J to INCREASE (as accumulate's Σ c·log π): d_logprob[t] = ∂J/∂logprob[t] and
 * d_hidden [T·C] = ∂J/∂hidden (both zeroed before; a model without parameters under its
 * hidden states ignores d_hidden). Non-zero return: the pass stops with that error. */
typedef int (*pst_token_fn)(void *ctx, int i, int T, const float *logprob, const float *hidden, int C,
                            float *d_logprob, float *d_hidden, pst_error *err);

/* What one kind of model does: a const table, one per implementation (static storage),
 * shared by all its instances. self is the instance's state. */
typedef struct {
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
    /* A frozen copy of the current model (e.g. to become a proposal q); owned. */
    int (*clone)(void *self, pst_distribution *out, pst_error *err);
    /* Model parameters (and optimiser state) to / from a directory. */
    int (*save)(void *self, const char *dir, pst_error *err);
    int (*load)(void *self, const char *dir, pst_error *err);
    /* Frees self (an owned instance). */
    void (*destroy)(void *self);
    /* Optional, for token-level trainers (NULL: not supported). hidden_size: the width C of
     * the hidden states token_pass gives. token_pass: one pass over the n sequences calling
     * fn for each (see pst_token_fn); with backward, grad += ∇θ J as fn gave it (step then
     * increases J). */
    int (*hidden_size)(void *self);
    int (*token_pass)(void *self, const pst_seq *contexts, const pst_sample *xs, int n, int backward,
                      pst_token_fn fn, void *fn_ctx, pst_error *err);
    /* Optional, for data-parallel runs (NULL: not supported). sample_rows draws rows
     * [first, first + count) of the batch that sample(n) would draw, the same sequences
     * (each row its own random stream), into out[count]; contexts[n] are the whole
     * batch's; rng advances as sample(n) advances it. gradient: the contiguous buffer of
     * the accumulated gradient that step uses (*n floats; NULL before any accumulate),
     * which a caller may sum over ranks between accumulate and step. */
    int (*sample_rows)(void *self, const pst_seq *contexts, int n, int first, int count, pst_rng *rng,
                       pst_sample *out, pst_error *err);
    float *(*gradient)(void *self, size_t *n);
} pst_distribution_ops;

/* An instance: its kind's ops and its state. An owned instance (what the loaders and
 * clone return) is destroyed by pst_distribution_free; a borrowed one (a view of an
 * instance someone else owns: pst_distribution_borrow, pst_toy_distribution) is not.
 * So a caller frees every pst_distribution it holds, whichever it is, with no flag. */
struct pst_distribution {
    const pst_distribution_ops *ops;
    void *self;
    int owned;
};

/* Destroys d's state when d is owned; zeroes d either way (a zeroed d is fine). */
void pst_distribution_free(pst_distribution *d);

/* A borrowed view of d: the same model, never destroyed through the view. */
static inline pst_distribution pst_distribution_borrow(const pst_distribution *d) {
    pst_distribution v = *d;
    v.owned = 0;
    return v;
}

/* One-line calls through the ops table (see pst_distribution_ops for each contract). */
static inline const char *pst_dist_name(const pst_distribution *d) {
    return d->ops && d->ops->name ? d->ops->name : "?";
}
static inline int pst_dist_sample(pst_distribution *d, const pst_seq *contexts, int n, pst_rng *rng,
                                  pst_sample *out, pst_error *err) {
    return d->ops->sample(d->self, contexts, n, rng, out, err);
}
static inline int pst_dist_score(pst_distribution *d, const pst_seq *contexts, const pst_sample *xs, int n,
                                 double *logprob, pst_error *err) {
    return d->ops->score(d->self, contexts, xs, n, logprob, err);
}
/* 1 when d can be trained (accumulate, zero_grad and step exist). */
static inline int pst_dist_trainable(const pst_distribution *d) {
    return d->ops && d->ops->accumulate && d->ops->zero_grad && d->ops->step;
}
static inline int pst_dist_accumulate(pst_distribution *d, const pst_seq *contexts, const pst_sample *xs,
                                      const double *coef, int n, double *logprob, pst_error *err) {
    return d->ops->accumulate(d->self, contexts, xs, coef, n, logprob, err);
}
static inline void pst_dist_zero_grad(pst_distribution *d) { d->ops->zero_grad(d->self); }
static inline int pst_dist_step(pst_distribution *d, double lr, pst_error *err) {
    return d->ops->step(d->self, lr, err);
}
static inline int pst_dist_clone(pst_distribution *d, pst_distribution *out, pst_error *err) {
    return d->ops->clone(d->self, out, err);
}
static inline int pst_dist_save(pst_distribution *d, const char *dir, pst_error *err) {
    return d->ops->save(d->self, dir, err);
}
static inline int pst_dist_load(pst_distribution *d, const char *dir, pst_error *err) {
    return d->ops->load(d->self, dir, err);
}
/* 1 when d supports token-level training (hidden_size and token_pass exist). */
static inline int pst_dist_has_tokens(const pst_distribution *d) {
    return d->ops && d->ops->hidden_size && d->ops->token_pass;
}
static inline int pst_dist_hidden_size(pst_distribution *d) { return d->ops->hidden_size(d->self); }
static inline int pst_dist_token_pass(pst_distribution *d, const pst_seq *contexts, const pst_sample *xs, int n,
                                      int backward, pst_token_fn fn, void *fn_ctx, pst_error *err) {
    return d->ops->token_pass(d->self, contexts, xs, n, backward, fn, fn_ctx, err);
}
/* 1 when d can be sampled by rows and its gradient summed (sample_rows, gradient exist). */
static inline int pst_dist_data_parallel(const pst_distribution *d) {
    return d->ops && d->ops->sample_rows && d->ops->gradient;
}
static inline int pst_dist_sample_rows(pst_distribution *d, const pst_seq *contexts, int n, int first, int count,
                                       pst_rng *rng, pst_sample *out, pst_error *err) {
    return d->ops->sample_rows(d->self, contexts, n, first, count, rng, out, err);
}
static inline float *pst_dist_gradient(pst_distribution *d, size_t *n) { return d->ops->gradient(d->self, n); }
/* 1 when a and b are the same model (e.g. q is the prior itself). */
static inline int pst_dist_same(const pst_distribution *a, const pst_distribution *b) {
    return a->self == b->self;
}

/* ---- the GPT-2 prior / policy ---------------------------------------- */

typedef struct {
    pst_sample_options sampling; /* temperature / top-k / top-p: log q is the warped log-prob;
                                    bf16_weights: log q is the bf16 model's, and log π (the
                                    samples' logprob_model) comes from an fp32 scoring pass */
    float beta1, beta2, eps, weight_decay, grad_clip;
    int micro_batch;             /* rows per forward/backward (0: all at once) */
} pst_gpt2_policy_options;

void pst_gpt2_policy_options_default(pst_gpt2_policy_options *o);
/* Loads the model directory as a distribution (trainable: AdamW, created lazily). */
int pst_gpt2_distribution_load(const char *dir, const pst_gpt2_policy_options *o,
                               pst_distribution *d, pst_error *err);
/* The model inside a GPT-2 distribution (its parameters and accumulated gradients, which
 * hold ∇ of the loss −J that step descends), NULL for another kind: for tests and
 * benchmarks. */
pst_gpt2 *pst_gpt2_distribution_model(pst_distribution *d);
/* Wraps an existing model (copied) as a distribution. */
int pst_gpt2_distribution_from(const pst_gpt2 *m, const pst_gpt2_policy_options *o,
                               pst_distribution *d, pst_error *err);

#ifdef __cplusplus
}
#endif

#endif
