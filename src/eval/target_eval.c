/* Target evaluation: how aligned is a model π with a target p(x) = P(x)/Z?
 * From samples x_i ~ q (π, warped by the sampling options) and, where p can be sampled
 * exactly (rejection from a; a reference file or n_exact draws), from exact samples of p:
 *   alignment   E_π[φ] (pointwise: E_π[b]; klrl: E_π[r])
 *   KL(π‖a)     E_π[log π − log a]
 *   KL(p‖π), TVD(p, π), log Z, E_p[φ]   importance-sampled with weights P/q, and exact
 *   warnings    low ESS, IS and exact estimates that disagree, mass of p dropped by π
 *   diversity   distinct-n over the samples' tokens (n = 1, 2, 3), mean length
 *   LM loss     on a held-out shard (pst_lm_loss) */
#include "posterior/eval.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void pst_target_eval_options_default(pst_target_eval_options *o) {
    memset(o, 0, sizeof *o);
    pst_sample_options_default(&o->sampling);
    o->sampling.max_new_tokens = 32;
    o->n = 256;
    o->batch = 64;
    o->lm_batches = 8, o->lm_batch = 8, o->lm_seq = 128;
    o->n_exact = -1;
    o->max_proposals = 200000;
    o->seed = 1;
}

void pst_target_eval_free(pst_target_eval_result *r) {
    pst_scored_batch_free(&r->samples);
    pst_reference_free(&r->reference);
    pst_target_bundle_free(&r->bundle);
    memset(r, 0, sizeof *r);
}

/* distinct-1, -2, -3 of the samples' token sequences (pst_distinct_n). */
static int sample_distinct(const pst_sample *xs, int n, double d[3], pst_error *err) {
    const int **seqs = malloc(sizeof *seqs * (size_t)n);
    int *lens = malloc(sizeof *lens * (size_t)n);
    if (!seqs || !lens) {
        free(seqs), free(lens);
        return pst_fail(err, "out of memory");
    }
    for (int i = 0; i < n; i++) seqs[i] = xs[i].tokens, lens[i] = xs[i].n_tokens;
    for (int j = 0; j < 3; j++) d[j] = pst_distinct_n(seqs, lens, n, j + 1);
    free(seqs), free(lens);
    return 0;
}

/* ESS of the importance weights P(x_i)/q(x_i) of π's samples. */
static int sample_ess(const pst_scored_batch *sb, int n, double *ess, pst_error *err) {
    double *lw = malloc(sizeof(double) * (size_t)n);
    if (!lw) return pst_fail(err, "out of memory");
    for (int i = 0; i < n; i++) lw[i] = sb->log_target[i] - sb->log_q[i];
    *ess = pst_effective_sample_size(lw, n);
    free(lw);
    return 0;
}

/* The estimates from π's own samples (log π: the model's raw log-prob; log q may be warped). */
static void estimate_from_samples(pst_target_eval_result *r) {
    const pst_scored_batch *sb = &r->samples;
    const double *lpi = sb->log_model;
    int n = r->n;
    pst_estimate_moments_policy(lpi, sb->log_q, sb->features, n, r->k, r->alignment);
    pst_estimate_moments_target(sb->log_target, sb->log_q, sb->features, n, r->k, r->moments_p);
    r->kl_pi_a = pst_estimate_kl_policy_prior(lpi, sb->log_prior, sb->log_q, n);
    r->log_z = pst_estimate_log_partition(sb->log_target, sb->log_q, n);
    r->kl_p_pi = pst_estimate_kl_target_policy(sb->log_target, sb->log_q, lpi, n);
    r->tvd = pst_estimate_tvd(sb->log_target, sb->log_q, lpi, n);
    r->mean_length = 0;
    for (int i = 0; i < n; i++) r->mean_length += (double)sb->xs[i].n_tokens / n;
}

/* Exact samples of p on their own random stream, so π's samples do not depend on them. */
static int measure_exact(const pst_target_eval_options *o, pst_target_eval_result *r, pst_distribution *pol,
                         const pst_seq *ctx, pst_rng *rng, pst_error *err) {
    int n_exact = o->n_exact < 0 ? o->n : o->n_exact;
    double log_m;
    r->have_exact = o->reference || (n_exact > 0 && pst_target_log_envelope(&r->bundle.target, &log_m));
    if (!r->have_exact) return 0;
    pst_rng xrng = pst_rng_split(rng, 0x65786163);
    pst_exact_options xo;
    pst_exact_options_default(&xo);
    xo.batch = o->batch;
    xo.max_proposals = o->max_proposals;
    xo.comm = o->comm; /* the draws of a split over the ranks */
    if (pst_target_bundle_reference(&r->bundle, o->reference, n_exact, o->sampling.max_new_tokens, ctx, &xo, &xrng,
                                    &r->reference, err) < 0)
        return -1;
    return pst_reference_evaluate(&r->bundle.target, &r->reference, pol, &r->exact, r->moments_p_exact, err);
}

static int lm_loss_of(const pst_target_eval_options *o, pst_target_eval_result *r, pst_error *err) {
    r->lm_loss = NAN;
    if (!o->data) return 0;
    return pst_lm_loss_of_dir(o->model, o->data, o->lm_batches, o->lm_batch, o->lm_seq, &r->lm_loss, &r->lm_tokens,
                              err);
}

/* The target, the model π (a distribution sampled with o's warping) and the context. */
static int open_eval(const pst_target_eval_options *o, pst_target_eval_result *r, pst_distribution *pol, int **pids,
                     pst_seq *ctx, pst_error *err) {
    pst_gpt2_policy_options po;
    pst_gpt2_policy_options_default(&po);
    po.sampling.max_new_tokens = o->sampling.max_new_tokens;
    if (pst_target_bundle_load(o->spec, &po, &r->bundle, err) < 0 ||
        pst_target_spec_check_fitted(&r->bundle.spec, o->spec, err) < 0)
        return -1;
    po.sampling.temperature = o->sampling.temperature;
    po.sampling.top_k = o->sampling.top_k;
    po.sampling.top_p = o->sampling.top_p;
    if (pst_target_check_policy(r->bundle.spec.prior, o->model, err) < 0 ||
        pst_gpt2_distribution_load(o->model, &po, pol, err) < 0)
        return -1;
    if (!o->prompt) return pst_target_bundle_require_contexts(&r->bundle, 0, err);
    size_t nid = 0;
    if (pst_tokenizer_encode(pst_text_evidence_tokenizer(r->bundle.evidence), o->prompt, strlen(o->prompt), 1, pids,
                             &nid, err) < 0)
        return -1;
    ctx->tokens = *pids;
    ctx->n = (int)nid;
    return pst_target_bundle_check_context(&r->bundle, ctx->n, o->sampling.max_new_tokens, err);
}

int pst_target_eval(const pst_target_eval_options *o, pst_target_eval_result *r, pst_error *err) {
    memset(r, 0, sizeof *r);
    if (o->n < 2) return pst_fail_field(err, "n", "n is %d; an evaluation needs at least 2 samples", o->n);
    if (o->n_exact == 1) return pst_fail_field(err, "n_exact", "n_exact is 1; exact samples must be 0 or at least 2");
    if (o->max_proposals < 1) return pst_fail_field(err, "max_proposals", "max_proposals is %ld; it must be at least 1", o->max_proposals);
    pst_distribution pol = {0};
    int rc = -1, *pids = NULL;
    pst_seq ctx = {0};
    /* every rank opens alike; a failure on one fails all, said once (comm.h) */
    if (pst_comm_check(o->comm, open_eval(o, r, &pol, &pids, &ctx, err), err) < 0) goto done;
    pst_rng rng;
    pst_rng_seed(&rng, o->seed);
    r->n = o->n;
    if (pst_draw_scored_split(&r->bundle.target, &pol, o->prompt ? &ctx : NULL, o->n, o->batch, &rng, o->comm,
                              &r->samples, err) < 0 ||
        measure_exact(o, r, &pol, o->prompt ? &ctx : NULL, &rng, err) < 0)
        goto done;
    r->k = r->samples.k;
    estimate_from_samples(r);
    if (sample_distinct(r->samples.xs, o->n, r->distinct, err) < 0 || lm_loss_of(o, r, err) < 0 ||
        sample_ess(&r->samples, o->n, &r->ess, err) < 0)
        goto done;
    r->flags = pst_yardstick_flags(r->kl_p_pi, r->ess, o->n, r->have_exact ? &r->exact : NULL);
    rc = 0;
done:
    pst_distribution_free(&pol);
    free(pids);
    return rc;
}
